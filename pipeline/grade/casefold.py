"""Case-insensitive rubric patterns, run as case-sensitive ones on lower-cased text when that is exact.

    pat = CasePattern(r"data controller|\bcontroller\b")
    low = lowered_text(segment_text)           # None when lower-casing would not be exact
    m = pat.search(segment_text, low)          # same match (same offsets) as re.IGNORECASE

Python's ``re.IGNORECASE`` costs 2-3x on English text. A character matches a literal under
IGNORECASE when their ``lower()`` are equal, except for a few characters with extra case
variants (``ſ``/``s``, ``ı``/``i``, ``K``, Greek and Cyrillic letter forms: ``re._casefix``).
So when the text holds none of those and ``lower()`` keeps its length (so offsets do not
move), a pattern whose literals are lower-cased matches ``text.lower()`` exactly where the
original matches ``text``. Patterns that could behave differently (escapes by code point,
inline flags, character ranges that change when lower-cased) keep the IGNORECASE path, and
so does any text that is not safe. ``tests/test_casefold.py`` checks the equivalence.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

try:  # CPython 3.11+: characters whose case variants lower() does not unify
    from re._casefix import _EXTRA_CASES  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - another Python: always use IGNORECASE
    _EXTRA_CASES = None


def _special_chars() -> frozenset[str] | None:
    if _EXTRA_CASES is None:
        return None
    chars = {chr(c) for key, values in _EXTRA_CASES.items() for c in (key, *values)}
    chars |= {v for c in list(chars) for v in (c.upper(), c.title()) if len(v) == 1}
    chars |= {"\u03a3", "\u0130", "\u212a", "\u2126", "\u212b"}  # Σ (final sigma), İ, Kelvin, Ohm, Angstrom
    return frozenset(c for c in chars if not c.isascii())


SPECIAL: frozenset[str] | None = _special_chars()


def lowered_text(text: str) -> str | None:
    """``text.lower()`` if matching it case-sensitively is exactly matching ``text`` case-insensitively."""
    if SPECIAL is None:
        return None
    low = text.lower()
    if len(low) != len(text):
        return None
    if not text.isascii() and not SPECIAL.isdisjoint(text):
        return None
    return low


def _range_ok(a: str, b: str) -> bool:
    """A class range keeps its meaning on lower-cased text when lower-casing maps it onto itself."""
    if a.isascii() and b.isascii():
        if a.isupper() and b.isupper() or a.islower() and b.islower():
            return True
        return not any(chr(c).isalpha() for c in range(ord(a), ord(b) + 1))
    return all(chr(c).lower() == chr(c) == chr(c).upper() for c in range(ord(a), ord(b) + 1))


def lowered_source(source: str) -> str | None:
    """The pattern with its literals lower-cased, or None when that might change what it matches."""
    if SPECIAL is None:
        return None
    out: list[str] = []
    i, n = 0, len(source)
    in_class = False
    while i < n:
        c = source[i]
        if c == "\\":
            if i + 1 >= n:
                return None
            e = source[i + 1]
            if e in "xuUN" or e.isdigit() or (e.isalpha() and not e.isascii()):
                return None  # code-point escapes, backreferences: keep IGNORECASE
            out.append(c + e)
            i += 2
            continue
        if in_class:
            if c == "]" and out and out[-1] not in ("[", "[^"):
                in_class = False
                out.append(c)
                i += 1
                continue
            if i + 2 < n and source[i + 1] == "-" and source[i + 2] not in "]\\":
                if not _range_ok(c, source[i + 2]):
                    return None
                out.append(c.lower() + "-" + source[i + 2].lower())
                i += 3
                continue
        elif c == "[":
            in_class = True
            if source.startswith("[^", i):
                out.append("[^")
                i += 2
            else:
                out.append("[")
                i += 1
            if i < n and source[i] == "]":  # a literal ] first in a class
                out.append("]")
                i += 1
            continue
        elif c == "(" and source.startswith("(?", i) and i + 2 < n and (source[i + 2].isalpha() or source[i + 2] == "-"):
            if source[i + 2] != "P":
                return None  # inline flags such as (?i) or (?-i:...)
            out.append("(?P")  # a named group or reference: its name is lower-cased everywhere alike
            i += 3
            continue
        low = c.lower()
        if len(low) != 1 or low in SPECIAL or c in SPECIAL:
            return None
        out.append(low)
        i += 1
    return "".join(out)


class CasePattern:
    """A pattern compiled with IGNORECASE, plus its lower-cased case-sensitive twin when exact."""

    __slots__ = ("source", "ci", "lower")

    def __init__(self, source: str, flags: int = 0) -> None:
        self.source = source
        self.ci = re.compile(source, re.IGNORECASE | flags)
        low = lowered_source(source)
        self.lower = re.compile(low, flags) if low is not None else None

    def search(self, text: str, lowered: str | None = None) -> re.Match[str] | None:
        """``re.search(source, text, re.IGNORECASE)``; faster when ``lowered = lowered_text(text)`` is given."""
        if lowered is not None and self.lower is not None:
            return self.lower.search(lowered)
        return self.ci.search(text)

    def finditer(self, text: str, lowered: str | None = None) -> Iterator[re.Match[str]]:
        """``re.finditer(source, text, re.IGNORECASE)``, the same offsets; faster on ``lowered``."""
        if lowered is not None and self.lower is not None:
            return self.lower.finditer(lowered)
        return self.ci.finditer(text)
