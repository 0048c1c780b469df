"""The built-in demo: sample policies written for this project, served on 127.0.0.1.

Nine services whose transparency is known by construction: a thorough English
policy (Acme Notes), a middling one (Brightmail), a vague one (VagueCorp); a
thorough Chinese policy (晨光阅读), a middling one (快拍相机), a vague one served
in GBK with the charset only in a ``<meta>`` tag (优选商城); a service with only a
homepage whose policy is two clicks away (蔚蓝出行); a homepage with no policy
(Quickgames, "no policy found"); and a server that fails (坏服务器, "could not
assess"). None of this text comes from a real policy.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from pipeline.serve.localserver import Route, serve

HTML = "text/html; charset=utf-8"

# path on the demo server -> (file in demo_data, content type)
_PAGES: dict[str, tuple[str, str]] = {
    "/acme/privacy": ("acme-notes-privacy.html", HTML),
    "/brightmail/privacy": ("brightmail-privacy.html", HTML),
    "/vaguecorp/privacy": ("vaguecorp-privacy.html", HTML),
    "/chenguang/privacy": ("chenguang-privacy.html", HTML),
    "/kuaipai/privacy": ("kuaipai-privacy.html", HTML),
    "/youxuan/privacy": ("youxuan-privacy.gbk.html", "text/html"),  # GBK, charset only in <meta>
    "/weilan/": ("pinglan-home.html", HTML),
    "/weilan/legal": ("pinglan-legal.html", HTML),
    "/weilan/legal/privacy-policy": ("pinglan-privacy.html", HTML),
    "/quickgames/": ("nopolicy-home.html", HTML),
}

#: Expected outcome by construction, used by tests: service id -> (status, relative standing).
EXPECTED_ORDER_EN = ["acme-notes", "brightmail", "vaguecorp"]
EXPECTED_ORDER_ZH = ["chenguang", "kuaipai", "youxuan"]
EXPECTED_NO_POLICY = ["quickgames"]
EXPECTED_NOT_ASSESSED = ["brokenserver"]


def demo_file(name: str) -> bytes:
    return resources.files("pipeline").joinpath("demo_data", name).read_bytes()


def demo_routes() -> dict[str, Route]:
    routes = {path: Route(demo_file(name), content_type=ctype) for path, (name, ctype) in _PAGES.items()}
    routes["/robots.txt"] = Route(b"User-agent: *\nAllow: /\n", content_type="text/plain")
    routes["/broken/privacy"] = Route(b"internal error", status=500, content_type="text/plain")
    small = b"<html><body><p>Nothing to see here.</p></body></html>"
    for path in ("/weilan/about", "/weilan/jobs", "/weilan/legal/terms", "/quickgames/about", "/quickgames/games"):
        routes[path] = Route(small)
    return routes


def write_targets(base_url: str, dest: Path) -> Path:
    """Write the demo targets file with URLs pointing at ``base_url``."""
    text = demo_file("targets.csv").decode("utf-8").replace("{base}", base_url)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(text, encoding="utf-8")
    return dest


def next_commands(data_dir: Path | None = None) -> list[str]:
    """What to try after ``policyaudit demo`` (``--data-dir`` repeated when one was given)."""
    where = f" --data-dir {data_dir}" if data_dir is not None else ""
    return [
        f"policyaudit runs{where}",
        f"policyaudit show chenguang --label demo{where}",
        f'policyaudit review vaguecorp retention_period --label demo --set partial --note "checked by hand"{where}',
        f"policyaudit report --label demo --out reports-out/demo{where}",
    ]


@contextmanager
def demo_server() -> Iterator[str]:
    """Serve the demo site on 127.0.0.1; yield its base URL."""
    with serve(demo_routes()) as base_url:
        yield base_url
