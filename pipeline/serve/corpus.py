"""Serve a folder of policies you already have over 127.0.0.1 and build a targets file for it.

Used to audit real corpora end to end through the same HTTP path as live sites::

    routes, rows = corpus_site("ca4p", Path("../shared/data/ca4p-483/raw_data"))
    with serve(routes) as base:
        write_targets_csv(rows, base, Path("targets.csv"))

Kinds: ``ca4p`` (CA4P-483 tagtog HTML, served as is), ``opp115`` (OPP-115
sanitized policies: their ``|||`` segment markers become paragraph breaks, the
text is unchanged), ``folder`` (any .html/.htm/.txt/.md files, served as is).
Nothing is copied: files are read at run time.
"""

from __future__ import annotations

import csv
import html
import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.serve.localserver import Route

_TYPES = {".html": "text/html; charset=utf-8", ".htm": "text/html", ".txt": "text/plain; charset=utf-8", ".md": "text/markdown; charset=utf-8"}


@dataclass(frozen=True)
class CorpusRow:
    id: str
    name: str
    kind: str
    sector: str
    region: str
    path: str  # URL path on the corpus server


def _safe_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:120] or "x"


def _opp_sectors(shared_doc: Path) -> dict[str, str]:
    """OPP-115 policy UID -> top-level DMOZ sector of its site, when documented."""
    out: dict[str, str] = {}
    path = shared_doc / "websites_opp115.csv"
    if not path.exists():
        return out
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        for row in csv.DictReader(fh):
            uid = (row.get("Policy UID") or "").strip()
            sector = (row.get("Sectoral Data") or "").split(":")[0].strip()
            if uid and sector:
                out[uid] = sector
    return out


def corpus_site(kind: str, folder: Path, limit: int | None = None) -> tuple[dict[str, Route], list[CorpusRow]]:
    """Routes serving the corpus and one targets row per policy."""
    routes: dict[str, Route] = {"/robots.txt": Route(b"User-agent: *\nAllow: /\n", content_type="text/plain")}
    rows: list[CorpusRow] = []
    if kind == "ca4p":
        files = sorted(folder.glob("*.html"))[:limit]
        for f in files:
            path = f"/ca4p/{f.stem}.html"
            body = f.read_bytes()
            apk = re.search(rb"Apkid:\s*([A-Za-z0-9._]+)", body[:4000])
            name = f"{f.stem} {apk.group(1).decode()}" if apk else f"CA4P {f.stem}"
            routes[path] = Route(body)
            rows.append(CorpusRow(f"ca4p-{f.stem}", name, "app", "app", "CN", path))
    elif kind == "opp115":
        sectors = _opp_sectors(folder.parent / "documentation")
        files = sorted(folder.glob("*.html"))[:limit]
        for f in files:
            uid, _, site = f.stem.partition("_")
            body = f.read_text(encoding="utf-8", errors="replace")
            page = "<html><head><meta charset='utf-8'><title>{}</title></head><body><p>{}</p></body></html>".format(
                html.escape(site), body.replace("|||", "</p>\n<p>")
            )
            path = f"/opp115/{f.stem}.html"
            routes[path] = Route(page.encode("utf-8"))
            rows.append(CorpusRow(f"opp-{_safe_id(f.stem)}", site, "site", sectors.get(uid, "unknown"), "US", path))
    elif kind == "folder":
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in _TYPES)[:limit]
        for f in files:
            rel = f.relative_to(folder).as_posix()
            path = "/files/" + "/".join(_safe_id(part) for part in rel.split("/"))
            routes[path] = Route(f.read_bytes(), content_type=_TYPES[f.suffix.lower()])
            rows.append(CorpusRow(_safe_id(rel), f.stem, "site", f.parent.name if f.parent != folder else "", "", path))
    else:
        raise ValueError(f"unknown corpus kind {kind!r}: use ca4p, opp115 or folder")
    return routes, rows


def write_targets_csv(rows: list[CorpusRow], base_url: str, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with dest.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "name", "kind", "sector", "region", "policy_url", "homepage"])
        for r in rows:
            w.writerow([r.id, r.name, r.kind, r.sector, r.region, base_url + r.path, ""])
    return dest
