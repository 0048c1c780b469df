"""Read the list of services to audit from a CSV or YAML file.

CSV (UTF-8, a BOM is accepted), one service per row, header required::

    id,name,kind,sector,region,policy_url,homepage
    weibo,微博,app,社交,CN,https://weibo.com/signup/v5/privacy,https://weibo.com

YAML: a list of mappings with the same keys (or ``{targets: [...]}``).

Every problem (missing column, bad kind, bad URL, duplicate id) is reported with
the file, line and field; nothing is silently dropped. :func:`load_targets` raises
:class:`pipeline.errors.TargetsError` listing all of them at once.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from pipeline.content.safeyaml import UnsafeYaml, compose_safely
from pipeline.errors import Problem, TargetsError
from pipeline.records import Target

FIELDS = ("id", "name", "kind", "sector", "region", "policy_url", "homepage")
REQUIRED = ("id", "name", "kind")
KINDS = ("app", "site")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$")


def check_url(value: str) -> str | None:
    """Why ``value`` is not an absolute http(s) URL, or None if it is."""
    try:
        parts = urlsplit(value)
    except ValueError as exc:
        return f"not a URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return f"not an http(s) URL: {value!r}"
    if not parts.hostname:
        return f"URL has no host: {value!r}"
    if any(c.isspace() for c in value):
        return f"URL contains whitespace: {value!r}"
    return None


def _validate_row(row: Mapping[str, Any], line: int, extra_keys: Iterable[str]) -> tuple[Target | None, list[Problem]]:
    problems: list[Problem] = []
    for key in extra_keys:
        problems.append(Problem(line, key, f"unknown field {key!r}; allowed: {', '.join(FIELDS)}"))
    values: dict[str, str] = {}
    for key in FIELDS:
        raw = row.get(key)
        values[key] = "" if raw is None else str(raw).strip()
    for key in REQUIRED:
        if not values[key]:
            problems.append(Problem(line, key, f"{key} is required"))
    if values["id"] and not _ID_RE.match(values["id"]):
        problems.append(
            Problem(line, "id", f"id {values['id']!r} must be letters, digits, '.', '_' or '-' (at most 128)")
        )
    if values["kind"] and values["kind"] not in KINDS:
        problems.append(Problem(line, "kind", f"kind {values['kind']!r} must be one of {', '.join(KINDS)}"))
    if not values["policy_url"] and not values["homepage"]:
        problems.append(Problem(line, "policy_url", "give policy_url, homepage, or both"))
    for key in ("policy_url", "homepage"):
        if values[key]:
            why = check_url(values[key])
            if why:
                problems.append(Problem(line, key, why))
    if problems:
        return None, problems
    return (
        Target(
            id=values["id"],
            name=values["name"],
            kind=values["kind"],  # type: ignore[arg-type]
            sector=values["sector"],
            region=values["region"],
            policy_url=values["policy_url"] or None,
            homepage=values["homepage"] or None,
        ),
        [],
    )


MAX_CELL_CHARS = 100_000  # longest cell of a targets file; a URL or a name is far shorter
CSV_MODULE_LIMIT = 1 << 24  # the csv module's field limit while reading (as pipeline.train.corpora sets it)


def _rows_from_csv(path: Path, text: str) -> Iterable[tuple[int, dict[str, Any], list[str]]]:
    """Rows of a CSV file; any line ending (CRLF, LF, CR alone) is accepted; a cell over
    :data:`MAX_CELL_CHARS` (or the csv module's field size limit) is a problem with its line."""
    # the csv module's own limit (131,072) only raises, without the column; ours names it
    csv.field_size_limit(max(csv.field_size_limit(), CSV_MODULE_LIMIT))
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = _guarded(path, reader)
    return _csv_rows(path, reader, rows)


def _guarded(path: Path, reader: csv.DictReader[str]) -> Iterable[dict[str | Any, Any]]:
    """The rows of ``reader``; csv errors become a TargetsError naming the line."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            why = str(exc)
            if "field larger than field limit" in why:
                why = f"a cell is longer than {csv.field_size_limit()} characters"
            raise TargetsError(path, [Problem(reader.line_num + 1, None, f"unreadable CSV: {why}")]) from None
        yield row


def _csv_rows(
    path: Path, reader: csv.DictReader[str], rows: Iterable[dict[str | Any, Any]]
) -> Iterable[tuple[int, dict[str, Any], list[str]]]:
    try:
        fieldnames = reader.fieldnames
    except csv.Error as exc:
        raise TargetsError(path, [Problem(1, None, f"unreadable CSV header: {exc}")]) from None
    header = [h.strip() for h in (fieldnames or [])]
    missing = [f for f in REQUIRED if f not in header]
    if not header:
        raise TargetsError(path, [Problem(1, None, "empty file: expected a header row " + ",".join(FIELDS))])
    problems = [Problem(1, f, f"missing column {f!r} in header") for f in missing]
    if "policy_url" not in header and "homepage" not in header:
        problems.append(Problem(1, "policy_url", "header needs a policy_url or homepage column"))
    unknown = [h for h in header if h not in FIELDS]
    problems += [Problem(1, h, f"unknown column {h!r}; allowed: {', '.join(FIELDS)}") for h in unknown]
    dupes = {h for h in header if header.count(h) > 1}
    problems += [Problem(1, h, f"column {h!r} appears twice") for h in sorted(dupes)]
    if problems:
        raise TargetsError(path, problems)
    reader.fieldnames = header
    for row in rows:
        line = reader.line_num
        if None in row:  # more cells than header columns
            yield line, {"__too_many__": row.pop(None)}, []
            continue
        if all((v or "").strip() == "" for v in row.values()):
            continue  # blank line
        long = [k for k, v in row.items() if isinstance(v, str) and len(v) > MAX_CELL_CHARS]
        if long:
            yield line, {"__too_long__": long[0]}, []
            continue
        yield line, row, []


def _rows_from_yaml(path: Path, text: str) -> Iterable[tuple[int, dict[str, Any], list[str]]]:
    try:
        root = compose_safely(text)
    except UnsafeYaml as exc:
        raise TargetsError(path, [Problem(exc.line, None, f"refused YAML: {exc.message}")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise TargetsError(path, [Problem(mark.line + 1 if mark else None, None, f"invalid YAML: {exc}")]) from None
    if root is None:
        raise TargetsError(path, [Problem(1, None, "empty file: expected a list of services")])
    if isinstance(root, yaml.MappingNode):
        items = {k.value: v for k, v in root.value}
        if set(items) != {"targets"}:
            raise TargetsError(path, [Problem(root.start_mark.line + 1, None, "expected a list, or a mapping with one key 'targets'")])
        root = items["targets"]
    if not isinstance(root, yaml.SequenceNode):
        raise TargetsError(path, [Problem(root.start_mark.line + 1, None, "expected a list of services")])
    for node in root.value:
        line = node.start_mark.line + 1
        if not isinstance(node, yaml.MappingNode):
            yield line, {"__not_mapping__": True}, []
            continue
        data = yaml.safe_load(yaml.serialize(node))
        keys = [k.value for k, _ in node.value]
        extra = [k for k in keys if k not in FIELDS]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            yield line, {"__dupe_keys__": dupes}, []
            continue
        yield line, data, extra


def load_targets(path: str | Path) -> list[Target]:
    """Read and validate a targets file (.csv, .yaml or .yml). Raises TargetsError listing every problem."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TargetsError(path, [Problem(None, None, f"cannot read file: {exc.strerror}")]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise TargetsError(path, [Problem(line, None, "file is not UTF-8; save it as UTF-8 (a BOM is fine)")]) from None
    suffix = path.suffix.lower()
    if suffix == ".csv":
        rows = _rows_from_csv(path, text)
    elif suffix in (".yaml", ".yml"):
        rows = _rows_from_yaml(path, text)
    else:
        raise TargetsError(path, [Problem(None, None, "unknown file type: use .csv, .yaml or .yml")])

    targets: list[Target] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for line, row, extra in rows:
        if "__too_many__" in row:
            problems.append(Problem(line, None, f"row has more cells than the header ({row['__too_many__']!r} extra)"))
            continue
        if "__not_mapping__" in row:
            problems.append(Problem(line, None, "each service must be a mapping of fields"))
            continue
        if "__too_long__" in row:
            problems.append(Problem(line, row["__too_long__"], f"cell longer than {MAX_CELL_CHARS} characters"))
            continue
        if "__dupe_keys__" in row:
            problems.append(Problem(line, row["__dupe_keys__"][0], "field given twice"))
            continue
        target, row_problems = _validate_row(row, line, extra)
        problems.extend(row_problems)
        sid = "" if row.get("id") is None else str(row.get("id")).strip()
        if sid and sid in seen:  # a duplicate even when the first row with this id has another mistake
            problems.append(Problem(line, "id", f"duplicate id {sid!r} (first on line {seen[sid]})"))
            continue
        if sid:
            seen[sid] = line
        if target is None:
            continue
        targets.append(replace(target, source=f"{path.name}:{line}"))
    if problems:
        raise TargetsError(path, problems)
    if not targets:
        raise TargetsError(path, [Problem(None, None, "no services in file")])
    return targets
