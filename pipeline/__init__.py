"""policyaudit: a privacy-policy transparency auditing pipeline.

Stages (one subpackage each): fetch -> read -> grade -> store -> report, wired by :mod:`pipeline.run`
(the plain loop in :mod:`pipeline.run.audit`, the Prefect flow in :mod:`pipeline.run.flows`); the CLI
is :mod:`pipeline.cli`. The README's "Layout" section draws the tree; ``tests/test_layout.py`` keeps it.
"""

from pipeline.settings import VERSION as __version__

__all__ = ["__version__"]
