"""Re-audits: unchanged policies are not re-read or re-graded, changed ones are flagged; 304s reuse the archive."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from pathlib import Path

from sqlmodel import select

from pipeline.run.audit import run_audit
from pipeline.serve.localserver import RequestLog, Route, serve
from pipeline.settings import Settings
from pipeline.store import db, queries, tables

POLICY = """<html><head><meta charset="utf-8"><title>Example privacy policy</title></head><body>
<h1>Privacy Policy</h1><p>Last updated: 1 May 2026.</p>
<p>We collect your email address and device identifiers to provide the service and keep it secure.</p>
<p>We keep your personal information for 12 months after your account is closed, then delete it.</p>
<p>You can access, correct or delete your personal information in your account settings.</p>
<p>Contact our privacy team at privacy@example.org with any question about this privacy policy.</p>
{extra}
</body></html>"""


def _etag_route(body: bytes, etag: str):
    def handle(h: BaseHTTPRequestHandler) -> None:
        if h.headers.get("If-None-Match") == etag:
            h.send_response(304)
            h.send_header("ETag", etag)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        h.send_response(200)
        h.send_header("Content-Type", "text/html; charset=utf-8")
        h.send_header("ETag", etag)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return handle


def _targets(tmp_path: Path, base: str) -> Path:
    p = tmp_path / "targets.csv"
    p.write_text(
        "id,name,kind,sector,region,policy_url,homepage\n"
        f"same,Same Co,site,news,,{base}/same,\n"
        f"etag,Etag Co,site,news,,{base}/etag,\n"
        f"moving,Moving Co,site,news,,{base}/moving,\n",
        encoding="utf-8",
    )
    return p


def test_reaudit_reuses_unchanged_grades_flags_changes_and_sends_validators(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, allow_private=True, use_classifier=False)
    same = POLICY.format(extra="").encode()
    log = RequestLog()
    routes = {
        "/same": Route(same),
        "/etag": _etag_route(POLICY.format(extra="<p>Etag Co.</p>").encode(), '"v1"'),
        "/moving": Route(POLICY.format(extra="").encode()),
    }
    with serve(routes, log=log) as base:
        targets = _targets(tmp_path, base)
        first = run_audit(targets, "2025", settings)
        routes["/moving"] = Route(POLICY.format(extra="<p>We share data with advertising partners.</p>").encode())
        second = run_audit(targets, "2026", settings)
    assert first.n_assessed == second.n_assessed == 3
    assert first.n_reused == 0 and second.n_reused == 2  # "same" and the 304 one; "moving" changed
    etag_requests = [h for _m, p, h in log.entries if p == "/etag"]
    assert etag_requests[-1].get("If-None-Match") == '"v1"'
    engine = db.make_engine(settings.db_url)
    with db.session_scope(engine) as s:
        run = queries.get_run(s, "2026")
        snaps = {x.service_id: x for x in s.exec(select(tables.Snapshot).where(tables.Snapshot.run_id == run.id))}
        scores = {x.service_id: x for x in s.exec(select(tables.Score).where(tables.Score.run_id == run.id))}
    assert snaps["etag"].not_modified and snaps["etag"].changed is False
    assert snaps["same"].changed is False and not snaps["same"].not_modified
    assert snaps["moving"].changed is True and snaps["moving"].previous_sha256 != snaps["moving"].sha256
    assert scores["same"].reused_from_run == first.id and scores["moving"].reused_from_run is None
    # a reused grade's criteria (copied inside the database) are the earlier ones, evidence and order included
    with db.session_scope(engine) as s:
        before = {r.target.id: r for r in queries.load_report(s, "2025", with_text=False).services}
        after = {r.target.id: r for r in queries.load_report(s, "2026", with_text=False).services}
    for sid in ("same", "etag"):
        assert (after[sid].score, after[sid].tier, after[sid].criteria) == (before[sid].score, before[sid].tier, before[sid].criteria)
        assert len(after[sid].criteria) > 5 and any(c.evidence for c in after[sid].criteria)


def test_robots_txt_is_read_once_per_site_for_a_whole_audit(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, allow_private=True, use_classifier=False, batch_size=1, workers=1)
    log = RequestLog()
    routes = {"/robots.txt": Route(b"User-agent: *\nAllow: /\n", content_type="text/plain"),
              "/same": Route(POLICY.format(extra="").encode()), "/etag": Route(POLICY.format(extra="<p>B</p>").encode()),
              "/moving": Route(POLICY.format(extra="<p>C</p>").encode())}
    with serve(routes, log=log) as base:
        run = run_audit(_targets(tmp_path, base), "2026", settings)
    assert run.n_assessed == 3
    assert log.paths().count("/robots.txt") == 1


def test_a_batch_with_few_policies_to_grade_is_graded_in_process_with_the_same_results(tmp_path: Path) -> None:
    """A re-run where a handful of policies changed does not start the grading processes for them."""
    import hashlib
    from datetime import UTC, datetime

    from pipeline.grade.classify import Classifiers
    from pipeline.grade.rubric import load_rubric
    from pipeline.records import FetchOutcome, FetchResult, Target
    from pipeline.run.audit import INLINE_MAX, plan_audit, process_batch
    from pipeline.run.parallel import GradingPool

    settings = Settings(data_dir=tmp_path, allow_private=True, use_classifier=False, workers=2)
    rubric = load_rubric(settings.rubric)
    fetched = []
    for i in range(INLINE_MAX + 2):
        body = POLICY.format(extra=f"<p>We keep server logs for {i + 2} weeks.</p>" * (i % 2)).encode() + b" " * i
        fetched.append((
            Target(id=f"svc{i}", name=f"Svc {i}", kind="site", sector="news", policy_url=f"https://svc{i}.example/p"),
            FetchResult(requested_url=f"https://svc{i}.example/p", outcome=FetchOutcome.OK, fetched_at=datetime.now(UTC),
                        content_type="text/html; charset=utf-8", sha256=hashlib.sha256(body).hexdigest(), size=len(body), body=body),
        ))
    started, criteria = {}, {}
    for label, n in (("few", INLINE_MAX), ("many", INLINE_MAX + 2)):
        engine = db.make_engine(f"sqlite:///{tmp_path / label}.db")
        plan = plan_audit(engine, [t for t, _ in fetched], label, rubric, Classifiers())
        with GradingPool(settings) as pool:
            counts = process_batch(engine, plan.run_id, fetched[:n], rubric, Classifiers(), None, pool)
            started[label] = pool.started
        assert counts.get("assessed") == n
        with db.session_scope(engine) as s:
            criteria[label] = {r.target.id: r.criteria for r in queries.load_report(s, label, with_text=False).services}
        engine.dispose()
    assert started == {"few": False, "many": True}
    assert all(criteria["few"][sid] == criteria["many"][sid] for sid in criteria["few"])
    assert len({criteria["many"][f"svc{i}"] for i in range(2)}) == 2  # the bodies differ in what they grade to
