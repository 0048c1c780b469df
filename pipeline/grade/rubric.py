"""Load and validate rubric files (``rubrics/*.yaml``).

    rubric = load_rubric("rubrics/transparency.v1.yaml")
    rubric.tier_for(72.5).id          # "relatively_high"
    rubric_fingerprint(rubric)        # sha256 hex of the canonical content

A rubric is validated completely on load; every problem found is collected with the 1-based
line of the offending key or value, then one :class:`pipeline.errors.RubricError` is raised.
Nothing about grading lives here: criteria name a registered check (:mod:`pipeline.grade.checks`),
whose declared params this module validates.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from pipeline.content.safeyaml import UnsafeYaml, compose_safely
from pipeline.grade import checks, checks_v2
from pipeline.grade.safepattern import backtracking_risk
from pipeline.errors import Problem, RubricError
from pipeline.records import Criterion, Names, Rubric, Tier

WEIGHT_TOTAL = 100.0
WEIGHT_TOLERANCE = 0.01
_ID = re.compile(r"[a-z][a-z0-9_]*")

# key -> required?
_TOP_KEYS = {"id": True, "version": True, "name": True, "description": False, "tiers": True, "criteria": True}
_TIER_KEYS = {"id": True, "name": True, "min_score": True}
_CRITERION_KEYS = {
    "id": True,
    "name": True,
    "description": False,
    "legal_basis": True,
    "weight": True,
    "check": True,
    "params": False,
}
_NAMES_KEYS = {"zh": True, "en": True}


def _line(node: Node) -> int:
    return node.start_mark.line + 1


class _Validator:
    """Walks the composed YAML node tree, collecting problems."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self._constructor = yaml.SafeLoader("")

    def add(self, node: Node | None, field: str | None, message: str) -> None:
        self.problems.append(Problem(_line(node) if node is not None else None, field, message))

    # -------------------------------------------------------- generic shapes

    def scalar(self, node: Node) -> Any:
        return self._constructor.construct_object(node, deep=True)

    def python(self, node: Node) -> Any:
        if isinstance(node, MappingNode):
            return {str(self.scalar(k)): self.python(v) for k, v in node.value}
        if isinstance(node, SequenceNode):
            return [self.python(v) for v in node.value]
        return self.scalar(node)

    def mapping(self, node: Node, field: str, keys: dict[str, bool] | None) -> dict[str, tuple[Node, Node]] | None:
        """Keys of a mapping node -> (key node, value node). ``keys=None`` allows any key."""
        if not isinstance(node, MappingNode):
            self.add(node, field, "must be a mapping (key: value lines)")
            return None
        out: dict[str, tuple[Node, Node]] = {}
        for knode, vnode in node.value:
            key = self.scalar(knode) if isinstance(knode, ScalarNode) else None
            if not isinstance(key, str):
                self.add(knode, field, f"keys must be strings, got {key!r}")
                continue
            sub = f"{field}.{key}" if field else key
            if key in out:
                self.add(knode, sub, f"duplicate key {key!r} (first on line {_line(out[key][0])})")
                continue
            if keys is not None and key not in keys:
                allowed = ", ".join(sorted(keys)) or "(none)"
                self.add(knode, sub, f"unknown key {key!r}; allowed: {allowed}")
                continue
            out[key] = (knode, vnode)
        for key, required in (keys or {}).items():
            if required and key not in out:
                self.add(node, f"{field}.{key}" if field else key, f"missing required key {key!r}")
        return out

    def sequence(self, node: Node, field: str) -> list[Node] | None:
        if not isinstance(node, SequenceNode):
            self.add(node, field, "must be a list")
            return None
        return list(node.value)

    def string(self, node: Node, field: str) -> str | None:
        value = self.scalar(node) if isinstance(node, ScalarNode) else None
        if not isinstance(value, str) or not value.strip():
            self.add(node, field, "must be a non-empty string" + (" (quote it)" if value is not None else ""))
            return None
        return value

    def number(self, node: Node, field: str) -> float | None:
        value = self.scalar(node) if isinstance(node, ScalarNode) else None
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self.add(node, field, f"must be a number, got {value!r}")
            return None
        return float(value)

    def names(self, node: Node, field: str) -> Names | None:
        m = self.mapping(node, field, _NAMES_KEYS)
        if m is None:
            return None
        zh = self.string(m["zh"][1], f"{field}.zh") if "zh" in m else None
        en = self.string(m["en"][1], f"{field}.en") if "en" in m else None
        return Names(zh=zh, en=en) if zh and en else None

    def regex_list(self, node: Node, field: str) -> None:
        items = self.sequence(node, field)
        for j, item in enumerate(items or []):
            pattern = self.string(item, f"{field}[{j}]")
            if pattern is None:
                continue
            try:
                checks.compile_pattern(pattern)
                risk = backtracking_risk(pattern, re.IGNORECASE)
            except re.error as exc:
                self.add(item, f"{field}[{j}]", f"bad regular expression {pattern!r}: {exc}")
                continue
            if risk:
                self.add(item, f"{field}[{j}]", f"unsafe regular expression {pattern!r}: {risk}")

    def by_language(self, node: Node, field: str, required: bool) -> dict[str, tuple[Node, Node]] | None:
        return self.mapping(node, field, {lang: required for lang in checks.LANGUAGES})

    # -------------------------------------------------------- check params

    def params(self, node: Node | None, field: str, check: str | None, check_node: Node | None) -> None:
        spec = checks.get_spec(check) if check else None
        if check and spec is None:
            known = ", ".join(checks.check_names())
            self.add(check_node, field.rsplit(".", 1)[0] + ".check", f"unknown check {check!r}; registered: {known}")
            return
        if spec is None:
            return
        if node is None:
            for key in sorted(spec.required):
                self.add(check_node, f"{field}.{key}", f"check {check} needs params.{key}")
            return
        m = self.mapping(node, field, {k: k in spec.required for k in spec.params})
        for key, (_knode, vnode) in (m or {}).items():
            kind = spec.params[key]
            sub = f"{field}.{key}"
            if kind == "patterns":
                for lang, (_k, lnode) in (self.by_language(vnode, sub, True) or {}).items():
                    lm = self.mapping(lnode, f"{sub}.{lang}", {"full": False, "partial": False})
                    for level, (_k2, pnode) in (lm or {}).items():
                        self.regex_list(pnode, f"{sub}.{lang}.{level}")
            elif kind == "keywords":
                for lang, (_k, lnode) in (self.by_language(vnode, sub, True) or {}).items():
                    self.regex_list(lnode, f"{sub}.{lang}")
            elif kind == "items":
                im = self.mapping(vnode, sub, None)
                if im is not None and not im:
                    self.add(vnode, sub, "needs at least one item")
                for item, (_k, inode) in (im or {}).items():
                    for lang, (_k2, lnode) in (self.by_language(inode, f"{sub}.{item}", True) or {}).items():
                        self.regex_list(lnode, f"{sub}.{item}.{lang}")
            elif kind == "labels":
                for lang, (_k, lnode) in (self.by_language(vnode, sub, False) or {}).items():
                    known = checks.KNOWN_LABELS[lang]
                    for j, item in enumerate(self.sequence(lnode, f"{sub}.{lang}") or []):
                        label = self.string(item, f"{sub}.{lang}[{j}]")
                        if label is not None and label not in known:
                            hint = "OPP-115 Majority labels" if lang == "en" else "CR1..CR26, PC1..PC7"
                            self.add(item, f"{sub}.{lang}[{j}]", f"unknown classifier label {label!r} (known for {lang}: {hint})")
            elif kind == "int":
                value = self.scalar(vnode) if isinstance(vnode, ScalarNode) else None
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    self.add(vnode, sub, f"must be a positive integer, got {value!r}")
            elif kind == "rules":
                self.rules(vnode, sub, m)
            elif kind == "bool":
                value = self.scalar(vnode) if isinstance(vnode, ScalarNode) else None
                if not isinstance(value, bool):
                    self.add(vnode, sub, f"must be true or false, got {value!r}")

    def rules(self, node: Node, field: str, siblings: dict[str, tuple[Node, Node]] | None) -> None:
        """A list of component rules, or one list per language ({zh: [...], en: [...]}); every
        component named must be a key of ``components``."""
        known: set[str] = set()
        if siblings and "components" in siblings and isinstance(siblings["components"][1], MappingNode):
            known = {str(self.scalar(k)) for k, _v in siblings["components"][1].value}
        if isinstance(node, MappingNode):
            for lang, (_k, lnode) in (self.by_language(node, field, True) or {}).items():
                self._rule_list(lnode, f"{field}.{lang}", known)
            return
        self._rule_list(node, field, known)

    def _rule_list(self, node: Node, field: str, known: set[str]) -> None:
        for j, item in enumerate(self.sequence(node, field) or []):
            rule = self.string(item, f"{field}[{j}]")
            if rule is None:
                continue
            try:
                parsed = checks_v2.parse_rules(rule)
            except ValueError as exc:
                self.add(item, f"{field}[{j}]", str(exc))
                continue
            for t in (t for r in parsed for t in r.terms):
                if t.component not in known:
                    self.add(item, f"{field}[{j}]", f"rule {rule!r} names {t.component!r}, which is not in components")

    # -------------------------------------------------------- sections

    def tiers(self, node: Node, field: str) -> list[Tier]:
        nodes = self.sequence(node, field)
        if nodes is not None and not nodes:
            self.add(node, field, "needs at least one tier")
        out: list[Tier] = []
        seen: dict[str, int] = {}
        prev: tuple[float, str] | None = None
        score_nodes: list[Node] = []
        for i, tnode in enumerate(nodes or []):
            sub = f"{field}[{i}]"
            m = self.mapping(tnode, sub, _TIER_KEYS)
            if m is None:
                continue
            tid = self.unique_id(m, sub, "tier", seen)
            name = self.names(m["name"][1], f"{sub}.name") if "name" in m else None
            score = self.number(m["min_score"][1], f"{sub}.min_score") if "min_score" in m else None
            if score is not None:
                snode = m["min_score"][1]
                score_nodes.append(snode)
                if not 0 <= score <= WEIGHT_TOTAL:
                    self.add(snode, f"{sub}.min_score", f"min_score {score:g} must be between 0 and 100")
                if prev is not None:
                    if score == prev[0]:
                        self.add(snode, f"{sub}.min_score", f"min_score {score:g} duplicates the threshold of tier {prev[1]!r}")
                    elif score > prev[0]:
                        self.add(
                            snode,
                            f"{sub}.min_score",
                            f"tiers must be listed best first with strictly descending min_score; "
                            f"{score:g} is above {prev[0]:g} of tier {prev[1]!r} (thresholds overlap)",
                        )
                prev = (score, tid or f"#{i}")
            if tid and name and score is not None:
                out.append(Tier(id=tid, name=name, min_score=score))
        if prev is not None and prev[0] != 0 and score_nodes:
            self.add(score_nodes[-1], f"{field}[{len(nodes or []) - 1}].min_score", f"the lowest tier's min_score must be 0, got {prev[0]:g}")
        return out

    def unique_id(self, m: dict, sub: str, what: str, seen: dict[str, int]) -> str | None:
        """The ``id`` of mapping ``m``: lower_snake_case and not seen before in this list."""
        if "id" not in m:
            return None
        node = m["id"][1]
        value = self.string(node, f"{sub}.id")
        if value is not None:
            if not _ID.fullmatch(value):
                self.add(node, f"{sub}.id", f"id {value!r} must be lower_snake_case")
            if value in seen:
                self.add(node, f"{sub}.id", f"duplicate {what} id {value!r} (first on line {seen[value]})")
            seen.setdefault(value, _line(node))
        return value

    def criteria(self, node: Node, field: str, key_node: Node) -> list[Criterion]:
        nodes = self.sequence(node, field)
        if nodes is not None and not nodes:
            self.add(node, field, "needs at least one criterion")
        out: list[Criterion] = []
        seen: dict[str, int] = {}
        weights: list[float] = []
        all_weights_ok = True
        for i, cnode in enumerate(nodes or []):
            sub = f"{field}[{i}]"
            m = self.mapping(cnode, sub, _CRITERION_KEYS)
            if m is None:
                all_weights_ok = False
                continue
            cid = self.unique_id(m, sub, "criterion", seen)
            name = self.names(m["name"][1], f"{sub}.name") if "name" in m else None
            desc = self.names(m["description"][1], f"{sub}.description") if "description" in m else None
            basis = None
            if "legal_basis" in m:
                bnode = m["legal_basis"][1]
                if isinstance(bnode, SequenceNode):
                    self.add(bnode, f"{sub}.legal_basis", "must be exactly one legal basis (a string), not a list")
                else:
                    basis = self.string(bnode, f"{sub}.legal_basis")
            weight = None
            if "weight" in m:
                weight = self.number(m["weight"][1], f"{sub}.weight")
                if weight is not None and weight <= 0:
                    self.add(m["weight"][1], f"{sub}.weight", f"weight must be positive, got {weight:g}")
                    weight = None
            if weight is None:
                all_weights_ok = False
            else:
                weights.append(weight)
            check = self.string(m["check"][1], f"{sub}.check") if "check" in m else None
            pnode = m["params"][1] if "params" in m else None
            self.params(pnode, f"{sub}.params", check, m["check"][1] if "check" in m else cnode)
            if cid and name and basis and weight is not None and check:
                params = self.python(pnode) if pnode is not None else {}
                out.append(
                    Criterion(
                        id=cid, name=name, legal_basis=basis, weight=weight, check=check,
                        description=desc, params=params if isinstance(params, dict) else {},
                    )
                )
        if nodes and all_weights_ok and abs(sum(weights) - WEIGHT_TOTAL) > WEIGHT_TOLERANCE:
            self.add(key_node, f"{field}[*].weight", f"weights must sum to 100 (±{WEIGHT_TOLERANCE}), they sum to {sum(weights):g}")
        return out


def load_rubric(path: str | Path) -> Rubric:
    """Read, validate and return the rubric at ``path``. Raises RubricError listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RubricError(path, [Problem(None, None, f"cannot read the file: {exc}")]) from exc
    try:
        root = compose_safely(text)
    except UnsafeYaml as exc:
        raise RubricError(path, [Problem(exc.line, None, f"refused YAML: {exc.message}")]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise RubricError(path, [Problem(line, None, f"YAML syntax error: {exc.problem or exc}")]) from exc
    except yaml.YAMLError as exc:
        raise RubricError(path, [Problem(None, None, f"YAML error: {exc}")]) from exc
    if root is None:
        raise RubricError(path, [Problem(None, None, "the file is empty")])

    v = _Validator()
    top = v.mapping(root, "", _TOP_KEYS)
    if top is None:
        raise RubricError(path, v.problems)
    rid = v.string(top["id"][1], "id") if "id" in top else None
    if rid is not None and not _ID.fullmatch(rid):
        v.add(top["id"][1], "id", f"id {rid!r} must be lower_snake_case")
    version = v.string(top["version"][1], "version") if "version" in top else None
    if version is not None and not re.fullmatch(r"\d+\.\d+\.\d+", version):
        v.add(top["version"][1], "version", f"version {version!r} must look like 1.0.0")
    name = v.names(top["name"][1], "name") if "name" in top else None
    description = v.string(top["description"][1], "description") if "description" in top else ""
    tiers = v.tiers(top["tiers"][1], "tiers") if "tiers" in top else []
    criteria = v.criteria(top["criteria"][1], "criteria", top["criteria"][0]) if "criteria" in top else []
    if v.problems:
        raise RubricError(path, v.problems)
    assert rid and version and name
    return Rubric(
        id=rid,
        version=version,
        name=name,
        description=description or "",
        criteria=tuple(criteria),
        tiers=tuple(tiers),
        source=str(path),
    )


def rubric_fingerprint(rubric: Rubric) -> str:
    """sha256 (hex) of the rubric's canonical content: sorted-key JSON of everything but ``source``.

    Comments, key order and formatting of the file do not change it; any change to a weight,
    threshold, pattern, label or check name does.
    """
    data = dataclasses.asdict(rubric)
    data.pop("source", None)
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
