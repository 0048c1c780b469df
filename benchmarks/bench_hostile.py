"""One audit of 50 good services and the 11 hostile services of issue 14, all on 127.0.0.1.

    .venv/bin/python benchmarks/bench_hostile.py                 # default budgets scaled down (see below)
    .venv/bin/python benchmarks/bench_hostile.py --fetch-budget 30

Prints: whether every service reached a terminal state (assessed / no_policy / not_assessed),
each hostile service's state and reason, wall time, peak RSS (this process and its grading
workers), and whether the 50 good services were graded exactly as when audited alone (same
status, score, tier and criterion levels). The policies are generated here; nothing is read
from ../shared/data. The file-level cases of the issue (YAML aliases and depth, tags, CSV
cells, rubric regexes, rubric identity, read-only data) are not services and are covered by
tests/hostile/.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.records import GradeStatus  # noqa: E402
from pipeline.run.audit import run_audit  # noqa: E402
from pipeline.serve.localserver import Handler, Route, serve  # noqa: E402
from pipeline.settings import Settings  # noqa: E402
from pipeline.store import db, queries  # noqa: E402
from tests.hostile import bodies as b  # noqa: E402
from tests.hostile.hangs import drip, hang, reset  # noqa: E402
from tests.hostile.test_hostile_markup import unclosed_tag_page  # noqa: E402

GOOD = 50
HTML = "text/html; charset=utf-8"
SHORT_POLICY = (
    "<html><head><title>Privacy Policy</title></head><body><h1>Privacy Policy</h1>"
    "<p>We collect your email address to send receipts and delete it 30 days after you close your account.</p>"
    "</body></html>"
).encode()
BIG5 = (
    "<html><head><title>隱私權政策</title></head><body><h1>隱私權政策</h1>"
    + "<p>我們收集您的姓名、電話號碼及電子郵件地址，用於提供服務。您的個人資料保存兩年後刪除。</p>" * 8
    + "<p>如需查詢、更正或刪除您的個人資料，請聯絡 privacy@example.com，我們將於十五個工作日內回覆。</p></body></html>"
).encode("big5")


def _home(prefix: str) -> bytes:
    return (
        f"<html><head><title>{prefix}</title></head><body><main><h1>Welcome</h1><p>Notes.</p></main>"
        f'<footer><a href="/{prefix}/privacy-policy">Privacy Policy</a></footer></body></html>'
    ).encode()


def _drip_home(prefix: str, links: int) -> bytes:
    anchors = "".join(f'<a href="/{prefix}/privacy-{i}">Privacy notice {i}</a> ' for i in range(links))
    return f"<html><body><footer>{anchors}</footer></body></html>".encode()


def main_routes() -> tuple[dict[str, Route | Handler], dict[str, str]]:
    """Routes of the main site and, per service id, the path of its policy URL or homepage ('home:')."""
    routes: dict[str, Route | Handler] = {"/robots.txt": Route(b"User-agent: *\nAllow: /\n", content_type="text/plain")}
    where: dict[str, str] = {}
    for i in range(GOOD):
        sid = f"good-{i:02d}"
        page = b.english_policy(f"Good App {i}") if i % 2 else b.chinese_policy(f"良好应用{i}")
        routes[f"/{sid}"] = Route(page.encode())
        where[sid] = f"/{sid}"
    hostile: dict[str, tuple[str, dict[str, Route | Handler]]] = {
        "h01-unclosed-tag": ("home:/h01/", {"/h01/": Route(unclosed_tag_page().encode())}),
        "h02-pdf-shared-stream": ("/h02.pdf", {"/h02.pdf": Route(b.pdf_shared_stream(), content_type="application/pdf")}),
        "h03-footer-500": ("home:/h03/", {"/h03/": Route(_home("h03")), "/h03/privacy-policy": Route(b"oops", status=500)}),
        "h04-footer-timeout": ("home:/h04/", {"/h04/": Route(_home("h04")), "/h04/privacy-policy": hang(90)}),
        "h05-footer-reset": ("home:/h05/", {"/h05/": Route(_home("h05")), "/h05/privacy-policy": reset}),
        "h06-footer-too-large": ("home:/h06/", {"/h06/": Route(_home("h06")), "/h06/privacy-policy": Route(b"<p>" + b"x" * 11_000_000)}),
        "h08-short-policy": ("home:/h08/", {"/h08/": Route(_home("h08")), "/h08/privacy-policy": Route(SHORT_POLICY)}),
        "h09-big5-as-gbk": ("/h09", {"/h09": Route(BIG5, content_type="text/html; charset=gbk")}),
        "h10-charset-undefined": ("/h10", {"/h10": Route(b.english_policy("Undefined Co").encode(), content_type="text/html; charset=undefined")}),
        "h11-drip-discovery": ("home:/h11/", {"/h11/": Route(_drip_home("h11", 10)), **{f"/h11/privacy-{i}": drip(100_000) for i in range(10)}}),
    }
    for sid, (path, extra) in hostile.items():
        routes.update(extra)
        where[sid] = path
    return routes, where


def write_targets(path: Path, where: dict[str, str], bases: dict[str, str]) -> None:
    lines = ["id,name,kind,policy_url,homepage"]
    for sid, spot in where.items():
        server, _, rest = spot.partition("@") if "@" in spot else ("main", "", spot)
        base = bases[server]
        if rest.startswith("home:"):
            lines.append(f"{sid},{sid},site,,{base}{rest[5:]}")
        else:
            lines.append(f"{sid},{sid},site,{base}{rest},")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def audit(where: dict[str, str], bases: dict[str, str], settings: Settings, label: str) -> dict[str, tuple]:
    targets = settings.data_dir / f"{label}.csv"
    write_targets(targets, where, bases)
    run_audit(targets, label, settings)
    engine = db.make_engine(settings.db_url)
    with db.session_scope(engine) as session:
        report = queries.load_report(session, label)
    engine.dispose()
    return {
        s.target.id: (s.status, s.score, s.tier, tuple((c.criterion_id, str(c.level)) for c in s.criteria), s.reason)
        for s in report.services
    }


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fetch-budget", type=float, default=30.0, help="target_fetch_budget, seconds")
    parser.add_argument("--read-budget", type=float, default=60.0, help="target_read_budget, seconds")
    args = parser.parse_args()
    routes, where = main_routes()
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        bases = {"main": stack.enter_context(serve(routes))}
        # robots.txt is per origin: two more loopback servers for the robots cases
        bases["robots"] = stack.enter_context(serve({
            "/robots.txt": Route(b"User-agent: *\nDisallow: /h07/privacy-policy\n", content_type="text/plain"),
            "/h07/": Route(_home("h07")), "/h07/privacy-policy": Route(SHORT_POLICY),
        }))
        where["h07-footer-robots-disallowed"] = "robots@home:/h07/"
        common = {
            "allow_private": True, "per_host_delay": 0.0, "per_host_concurrency": 8, "read_timeout": 10.0,
            "total_timeout": 20.0, "retry_backoff": 0.05, "use_classifier": False,
            "target_fetch_budget": args.fetch_budget, "target_read_budget": args.read_budget,
        }
        alone_dir, all_dir = Path(tmp) / "alone", Path(tmp) / "all"
        alone_dir.mkdir()
        all_dir.mkdir()
        good = {sid: spot for sid, spot in where.items() if sid.startswith("good-")}
        alone = audit(good, bases, Settings(data_dir=alone_dir, **common), "alone")
        started = time.perf_counter()
        together = audit(where, bases, Settings(data_dir=all_dir, **common), "together")
        wall = time.perf_counter() - started
    terminal = {GradeStatus.ASSESSED, GradeStatus.NO_POLICY, GradeStatus.NOT_ASSESSED}
    reached = sum(1 for sid in where if sid in together and together[sid][0] in terminal)
    same = [sid for sid in good if together.get(sid, ())[:4] == alone[sid][:4]]
    print(f"services: {len(where)} ({len(good)} good + {len(where) - len(good)} hostile)")
    print(f"reached a terminal state: {reached}/{len(where)}" + (" (all)" if reached == len(where) else ""))
    for sid in sorted(s for s in where if not s.startswith("good-")):
        status, score, _tier, _crit, reason = together[sid]
        print(f"  {sid:30} {status!s:13} {'' if score is None else f'{score:.1f} '}{reason[:110]}")
    print(f"wall time (61-service audit): {wall:.1f} s")
    print(f"peak RSS: {peak_rss_mb():.0f} MB (largest of this process and its grading workers)")
    print(f"good services graded exactly as when audited alone: {len(same)}/{len(good)}"
          + (" (identical)" if len(same) == len(good) else f"; differ: {sorted(set(good) - set(same))}"))


if __name__ == "__main__":
    main()
