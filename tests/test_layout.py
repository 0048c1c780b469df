"""The package layout is the pipeline: one-way imports between stages, no import cycles, no module
over 500 lines unless listed with a reason. Every module under ``pipeline/`` is parsed with ``ast``
(nothing is imported); function-level imports count, ``if TYPE_CHECKING:`` imports do not."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "pipeline"

# Top down: a module may import its own layer and the layers below it, never one above.
# read and fetch are siblings (neither imports the other): fetch is listed below read, and
# read importing fetch is forbidden on its own (FORBIDDEN below).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("pipeline.cli", "pipeline.demo", "pipeline.terminal"),  # the command line: parse, call, print
    ("pipeline.run",),  # orchestration: the audit loop, the worker pool, the Prefect flow
    ("pipeline.report",),  # site, exports, comparisons, reviews (re-grades with grade/)
    ("pipeline.train",),  # training and evaluation: imports grade/, never the reverse
    ("pipeline.grade", "pipeline.classify"),  # serving: rubric, checks, classifiers, grader
    ("pipeline.read",),  # bytes -> text -> segments
    ("pipeline.fetch",),  # the network
    ("pipeline.store",),  # tables, saving, queries, migrations
    ("pipeline.content", "pipeline.serve"),  # no stage: bytes and markup; local test sites
    ("pipeline", "pipeline.settings", "pipeline.errors", "pipeline.records"),
)

# Imports that the layer order alone would allow but the pipeline's rules forbid.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "pipeline.read": ("pipeline.fetch",),  # reading never touches the network
    "pipeline.grade": ("pipeline.fetch", "pipeline.train"),  # serving: no network, no training code
    "pipeline.classify": ("pipeline.fetch", "pipeline.train"),
    "pipeline.content": ("pipeline.serve",),  # the two no-stage packages stay apart
    "pipeline.serve": ("pipeline.content",),
}

MAX_LINES = 500
# Modules allowed over MAX_LINES because they are one cohesive thing (reason given).
LONG_MODULES: dict[str, str] = {
    "pipeline.read.doctype": "one classifier: its signal tables (titles, agreement and privacy topics and terms) and the decision over them",
}


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    top_level: bool


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "migrations" not in p.relative_to(PACKAGE).parts
    }


MODULES = _modules()


def _type_checking_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _imports(tree: ast.Module) -> list[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement with whether it runs at import time; ``if TYPE_CHECKING:`` blocks are skipped."""
    found: list[tuple[ast.Import | ast.ImportFrom, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if _type_checking_block(child):
                for sub in child.orelse:  # type: ignore[attr-defined]
                    visit_one(sub, top)
                continue
            visit_one(child, top)

    def visit_one(child: ast.AST, top: bool) -> None:
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            found.append((child, top))
        else:
            nested = top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            visit(child, nested)

    visit(tree, True)
    return found


def _resolve(source: str, is_package: bool, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The modules of ``pipeline`` an import statement loads (the longest existing module name)."""

    def known(name: str) -> str | None:
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        return name or None

    names: list[str] = []
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        base = node.module or ""
        if node.level:
            parts = source.split(".")
            if not is_package:
                parts = parts[:-1]
            parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join([*parts, base] if base else parts)
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
    out = []
    for name in names:
        if name == "pipeline" or name.startswith("pipeline."):
            target = known(name)
            if target is not None and target not in out:
                out.append(target)
    return out


def _edges() -> list[Edge]:
    edges = []
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, top in _imports(tree):
            for target in _resolve(name, path.name == "__init__.py", node):
                if target != name:
                    edges.append(Edge(name, target, node.lineno, top))
    return edges


EDGES = _edges()


def _group(module: str, groups: list[str]) -> str | None:
    """The longest group name that is ``module`` or a package holding it."""
    best = None
    for g in groups:
        if (module == g or module.startswith(g + ".")) and (best is None or len(g) > len(best)):
            best = g
    return best


def _layer(module: str) -> int:
    names = [g for layer in LAYERS for g in layer]
    group = _group(module, names)
    assert group is not None, f"{module} is in no layer of tests/test_layout.py LAYERS: add it where it belongs"
    return next(i for i, layer in enumerate(LAYERS) if group in layer)


def _where(edge: Edge) -> str:
    return f"{MODULES[edge.source].relative_to(PACKAGE.parent)}:{edge.line}"


def test_every_module_is_in_a_layer() -> None:
    for module in MODULES:
        _layer(module)


def test_no_stage_imports_a_layer_above_it() -> None:
    upward = [
        f"{_where(e)}: {e.source} imports {e.target}, a layer above it "
        f"({LAYERS[_layer(e.target)][0]} is above {LAYERS[_layer(e.source)][0]})"
        for e in EDGES
        if _layer(e.target) < _layer(e.source)
    ]
    assert not upward, "imports must go top-down (cli -> run -> report -> train -> grade -> read -> fetch -> store):\n" + "\n".join(upward)


def test_forbidden_imports() -> None:
    bad = []
    for e in EDGES:
        rule = _group(e.source, list(FORBIDDEN))
        if rule is None:
            continue
        for banned in FORBIDDEN[rule]:
            if e.target == banned or e.target.startswith(banned + "."):
                bad.append(f"{_where(e)}: {e.source} imports {e.target} ({rule} must never import {banned})")
    assert not bad, "\n".join(bad)


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for e in EDGES:
        graph[e.source].add(e.target)
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert not cycles, "import cycles (top-level and function-level imports count):\n" + "\n".join(
        " -> ".join(c) for c in cycles
    )


def test_no_module_is_too_long() -> None:
    long = [
        f"{path.relative_to(PACKAGE.parent)} has {lines} lines"
        for module, path in MODULES.items()
        if module not in LONG_MODULES and (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    ]
    assert not long, (
        f"modules over {MAX_LINES} lines: split them along their seams, or list them in LONG_MODULES in "
        "tests/test_layout.py with the reason each is one thing:\n" + "\n".join(long)
    )


def test_long_module_exceptions_are_still_needed() -> None:
    for module, reason in LONG_MODULES.items():
        assert module in MODULES, f"LONG_MODULES lists {module}, which no longer exists"
        assert reason.strip(), f"LONG_MODULES: say why {module} is one cohesive thing"
        lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
        assert lines > MAX_LINES, f"{module} has {lines} lines now: take it off LONG_MODULES"


def test_each_package_says_what_it_takes_and_gives() -> None:
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and "takes" in doc.lower() and "gives" in doc.lower(), f"{init}: docstring must say what it takes and gives"
