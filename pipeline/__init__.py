"""policyaudit: a privacy-policy transparency auditing pipeline.

Stages (one module each): targets -> fetch -> extract -> segment -> grade -> store -> report.
Flows (Prefect) in :mod:`pipeline.run.flows`, the CLI in :mod:`pipeline.cli`.
"""

from pipeline.settings import VERSION as __version__

__all__ = ["__version__"]
