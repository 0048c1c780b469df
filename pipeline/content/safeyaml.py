"""YAML composed safely: aliases, nesting and tags bounded before any value is built.

    root = compose_safely(text)        # a yaml node tree, or UnsafeYaml(line, message)

Used for targets files (:mod:`pipeline.run.targets`) and rubrics (:mod:`pipeline.grade.rubric`).
A "billion laughs" file of a few hundred bytes expands, through nested aliases, to gigabytes
once anything walks it; 50,000 nested brackets overflow the recursive composer; a
``!!python/...`` tag asks for code. Each is refused with the line where it happens.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, SequenceNode

MAX_ALIASES = 16  # alias uses in one file (the shipped rubric v2 uses one)
MAX_EXPANDED_NODES = 200_000  # nodes of the tree with every alias expanded
MAX_DEPTH = 64  # nested collections
SAFE_TAG_PREFIX = "tag:yaml.org,2002:"
SAFE_TAGS = frozenset(
    SAFE_TAG_PREFIX + t for t in ("str", "int", "float", "bool", "null", "seq", "map", "timestamp")
)


@dataclass
class UnsafeYaml(Exception):
    """The file asks for more than a data file may: ``line`` (1-based) and why."""

    line: int | None
    message: str

    def __str__(self) -> str:
        return self.message


def _size(node: Node, sizes: dict[int, int]) -> int:
    """Nodes under ``node`` with aliases expanded (memoised per node, so shared subtrees count once each use)."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    total = 1
    if isinstance(node, SequenceNode):
        total += sum(_size(child, sizes) for child in node.value)
    elif isinstance(node, MappingNode):
        total += sum(_size(k, sizes) + _size(v, sizes) for k, v in node.value)
    sizes[id(node)] = total
    return total


class _BoundedLoader(yaml.SafeLoader):
    """A SafeLoader whose composer counts aliases and depth as it goes."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: Node | None, index: object) -> Node | None:  # type: ignore[override]
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise UnsafeYaml(event.start_mark.line + 1, f"more than {MAX_ALIASES} aliases (*name); write the values out")
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise UnsafeYaml(event.start_mark.line + 1, f"nested more than {MAX_DEPTH} levels deep")
        try:
            node = super().compose_node(parent, index)  # type: ignore[arg-type]
        finally:
            self._depth -= 1
        if node is not None and node.tag not in SAFE_TAGS and node.tag.startswith(("!", "tag:")):
            raise UnsafeYaml(node.start_mark.line + 1, f"tag {node.tag!r} is not allowed in a data file")
        return node


def compose_safely(text: str) -> Node | None:
    """The node tree of a one-document YAML ``text``, or :class:`UnsafeYaml`.

    Syntax errors raise :class:`yaml.YAMLError` as usual (with their marks).
    """
    loader = _BoundedLoader(text)
    try:
        root = loader.get_single_node()
    finally:
        loader.dispose()
    if root is not None and _size(root, {}) > MAX_EXPANDED_NODES:
        raise UnsafeYaml(root.start_mark.line + 1, f"expands to more than {MAX_EXPANDED_NODES} values through its aliases")
    return root
