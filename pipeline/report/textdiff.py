"""Side-by-side text diff of two versions of a policy (difflib), with changed words marked inside a line.

    rows = text_diff(old_text, new_text)         # DiffRow per line pair, 3 lines of context
    added, removed = diff_stats(rows)
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

# ---------------------------------------------------------------- text diff


DiffKind = Literal["equal", "replace", "delete", "insert", "skip"]
Piece = tuple[str, bool]  # (text, changed)
MAX_INTRALINE = 4000  # characters; longer lines are marked changed as a whole


@dataclass(frozen=True)
class DiffRow:
    """One row of a side-by-side diff. ``skip`` rows stand for ``skipped`` unchanged lines."""

    kind: DiffKind
    left_no: int | None  # 1-based line number in the old text
    right_no: int | None
    left: tuple[Piece, ...] = ()
    right: tuple[Piece, ...] = ()
    skipped: int = 0

    @property
    def left_text(self) -> str:
        return "".join(t for t, _ in self.left)

    @property
    def right_text(self) -> str:
        return "".join(t for t, _ in self.right)


def _lines(text: str) -> list[tuple[int, str]]:
    return [(i, line) for i, line in enumerate(text.splitlines(), start=1) if line.strip()]


def _intraline(old: str, new: str) -> tuple[tuple[Piece, ...], tuple[Piece, ...]]:
    if len(old) > MAX_INTRALINE or len(new) > MAX_INTRALINE:
        return ((old, True),), ((new, True),)
    a, b = re.split(r"(\s+)", old), re.split(r"(\s+)", new)
    left: list[Piece] = []
    right: list[Piece] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if i2 > i1:
            left.append(("".join(a[i1:i2]), tag != "equal"))
        if j2 > j1:
            right.append(("".join(b[j1:j2]), tag != "equal"))
    return _merge(left), _merge(right)


def _merge(pieces: list[Piece]) -> tuple[Piece, ...]:
    out: list[Piece] = []
    for text, changed in pieces:
        if out and out[-1][1] == changed:
            out[-1] = (out[-1][0] + text, changed)
        else:
            out.append((text, changed))
    return tuple(out)


def text_diff(old: str, new: str, context: int | None = 3) -> list[DiffRow]:
    """Side-by-side rows of a line diff of two texts (blank lines ignored).

    Changed lines are paired; words that differ are marked ``changed`` in each piece. With
    ``context``, runs of unchanged lines longer than ``2 * context`` collapse into one ``skip`` row.
    """
    a, b = _lines(old or ""), _lines(new or "")
    matcher = difflib.SequenceMatcher(None, [t for _, t in a], [t for _, t in b], autojunk=False)
    rows: list[DiffRow] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            run = [DiffRow("equal", a[i][0], b[j][0], ((a[i][1], False),), ((b[j][1], False),)) for i, j in zip(range(i1, i2), range(j1, j2), strict=True)]
            if context is not None and len(run) > 2 * context + 1:
                head = run[:context] if rows else []
                tail = run[-context:] if i2 < len(a) or j2 < len(b) else []
                skipped = len(run) - len(head) - len(tail)
                rows += head + [DiffRow("skip", None, None, skipped=skipped)] + tail
            else:
                rows += run
            continue
        n = max(i2 - i1, j2 - j1)
        for k in range(n):
            left = a[i1 + k] if i1 + k < i2 else None
            right = b[j1 + k] if j1 + k < j2 else None
            if left is not None and right is not None:
                lp, rp = _intraline(left[1], right[1])
                rows.append(DiffRow("replace", left[0], right[0], lp, rp))
            elif left is not None:
                rows.append(DiffRow("delete", left[0], None, ((left[1], True),), ()))
            elif right is not None:
                rows.append(DiffRow("insert", None, right[0], (), ((right[1], True),)))
    return rows


def diff_stats(rows: Sequence[DiffRow]) -> tuple[int, int]:
    """(lines removed or changed on the left, lines added or changed on the right)."""
    return (
        sum(1 for r in rows if r.kind in ("replace", "delete")),
        sum(1 for r in rows if r.kind in ("replace", "insert")),
    )
