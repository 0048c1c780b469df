"""Errors raised for misuse (bad input files, bad settings).

Failures of one item (a 404, a timeout, an empty page) are *data*, recorded as
:class:`pipeline.records.FetchOutcome` / :class:`pipeline.records.GradeStatus`;
they never raise. Everything here is a mistake the user can fix, and says where.

    PolicyAuditError
     ├── InputFileError        a file the user wrote is wrong: names file, line, field
     │    ├── TargetsError     targets CSV/YAML
     │    └── RubricError      rubric YAML
     ├── StoreError            the database cannot be used (locked, unreachable, damaged, older schema)
     ├── OutputError           a report or export file cannot be written (disk full, read-only folder)
     └── ModelError            a trained model is missing or cannot be loaded safely
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class PolicyAuditError(Exception):
    """Base class of every error this package raises on purpose."""


@dataclass
class Problem:
    """One thing wrong in an input file."""

    line: int | None
    field: str | None
    message: str

    def format(self, path: str | Path) -> str:
        where = f"{path}"
        if self.line is not None:
            where += f":{self.line}"
        if self.field:
            where += f" [{self.field}]"
        return f"{where}: {self.message}"


class InputFileError(PolicyAuditError):
    """One or more problems in a file the user wrote. Nothing was written."""

    kind = "input"

    def __init__(self, path: str | Path, problems: list[Problem]):
        self.path = Path(path)
        self.problems = problems
        lines = [p.format(path) for p in problems]
        super().__init__(
            f"{len(problems)} problem(s) in {self.kind} file {path}:\n  " + "\n  ".join(lines)
        )


class TargetsError(InputFileError):
    kind = "targets"


class RubricError(InputFileError):
    kind = "rubric"


class StoreError(PolicyAuditError):
    """The database could not be used (after retries)."""


class OutputError(PolicyAuditError):
    """A report or export file could not be written; nothing partial was left under its name."""


class ModelError(PolicyAuditError):
    """A model file is missing, corrupt, or not safe to load."""
