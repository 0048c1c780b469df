"""Rubric regexes that could backtrack catastrophically, found at load.

    backtracking_risk(r"(a+)+$")     # "a repeated group holds another unbounded repeat: (a+)+ ..."
    backtracking_risk(r"隐私(政策|声明)")  # None

Python's ``re`` backtracks; a pattern with an unbounded repeat inside another repeat (star
height 2, as in ``(a+)+``, ``(\\w+\\s?)*``) takes exponential time on a near-miss such as
``"a" * 40 + "!"``. Such a pattern is refused when the rubric is loaded, with its line, and
grading runs in workers that are killed past ``target_read_budget`` in case one slips through.
"""

from __future__ import annotations

import re
from typing import Any

try:  # Python 3.11+: the parser is private but stable
    from re import _parser as sre_parse  # type: ignore[attr-defined]
    from re import _constants as sre_constants  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    import sre_constants  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

UNBOUNDED = 50  # a repeat allowing more than this many is treated as unbounded
_REPEATS = (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, getattr(sre_constants, "POSSESSIVE_REPEAT", None))


def _children(op: Any, av: Any) -> list[Any]:
    """Sub-patterns of one parsed item."""
    if op in _REPEATS:
        return [av[2]]
    if op is sre_constants.SUBPATTERN:
        return [av[-1]]
    if op is sre_constants.BRANCH:
        return list(av[1])
    if op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
        return [av[1]]
    if op is sre_constants.GROUPREF_EXISTS:
        return [p for p in av[1:] if p is not None]
    return []


def _has_unbounded_repeat(items: Any) -> bool:
    for op, av in items:
        if op in _REPEATS and av[1] > UNBOUNDED:
            return True
        if any(_has_unbounded_repeat(child) for child in _children(op, av)):
            return True
    return False


def _only_repeats(items: Any) -> bool:
    """True when everything in ``items`` that must match is an unbounded repeat (the rest optional):
    the repeat can then be split between iterations of an outer repeat in exponentially many ways."""
    mandatory = []
    for op, av in items:
        if op is sre_constants.SUBPATTERN:
            if not _only_repeats(av[-1]):
                mandatory.append((op, av))
            continue
        if op in _REPEATS and av[1] > UNBOUNDED:
            continue
        if op in _REPEATS and av[0] == 0:
            continue  # optional (x? or x{0,3}): may be skipped
        if op is sre_constants.BRANCH:
            if any(_only_repeats(b) for b in av[1]):
                continue
        if op in (sre_constants.AT, sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            continue  # zero-width
        mandatory.append((op, av))
    return not mandatory and _has_unbounded_repeat(items)


def _nested(items: Any) -> bool:
    for op, av in items:
        possessive = op is getattr(sre_constants, "POSSESSIVE_REPEAT", None)
        if op in _REPEATS and av[1] > UNBOUNDED and not possessive and _only_repeats(av[2]):
            return True
        if any(_nested(child) for child in _children(op, av)):
            return True
    return False


def backtracking_risk(pattern: str, flags: int = 0) -> str | None:
    """Why ``pattern`` may take exponential time in ``re``, or None. Raises ``re.error`` if it does not compile."""
    parsed = sre_parse.parse(pattern, flags)
    if _nested(parsed):
        return (
            "an unbounded repeat inside another unbounded repeat (like (a+)+ or (\\w+\\s?)*) can take "
            "exponential time; rewrite it without the nested repeat"
        )
    return None
