"""Optional renderer: the DOM of a page after its JavaScript ran, from the system Chromium.

Off by default (``Settings.render_javascript``); used by :mod:`pipeline.fetch.finder` only for pages
that :func:`pipeline.fetch.discover.needs_javascript` calls an app shell::

    html = await render_dom("https://example.com/privacy", settings, script_hosts=["cdn.example.com"])

Chromium does its own networking, so the SSRF guard is given to it as host-resolver rules:
the page's host and the hosts of its ``<script src>`` are resolved and checked here (public
addresses only, unless ``allow_private``) and pinned to the checked address; every other name
and every IP literal resolves to nothing (``MAP * ~NOTFOUND``). Scripts that call other hosts
therefore fail, and such a page may render incompletely: that is the price of the guard.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from pipeline.fetch import netguard
from pipeline.settings import Settings

RENDER_BUDGET_MS = 5000  # virtual time given to the page's timers before the DOM is dumped


class RenderFailed(Exception):
    """The page could not be rendered; the message says why (recorded, never raised out of fetch)."""


def chromium_available(settings: Settings) -> bool:
    path = settings.chromium_path
    return bool(path) and (Path(path).is_file() or shutil.which(path) is not None)


async def _pinned_rules(hosts: Iterable[str], settings: Settings) -> str:
    rules: list[str] = []
    seen: set[str] = set()
    for host in hosts:
        host = host.lower().strip("[]")
        if not host or host in seen:
            continue
        seen.add(host)
        try:
            addresses = await netguard.resolve(host, 443)
        except OSError:
            continue
        public = [ip for ip in addresses if settings.allow_private or netguard.address_problem(ip) is None]
        if not public or len(public) != len(addresses):
            continue  # a host with any non-public address is not pinned: it will not resolve
        ip = public[0]
        rules.append(f"MAP {host} {'[' + ip + ']' if ':' in ip else ip}")
    rules.append("MAP * ~NOTFOUND")
    return ", ".join(rules)


async def render_dom(url: str, settings: Settings, script_hosts: Iterable[str] = ()) -> bytes:
    """The serialised DOM of ``url`` after its scripts ran (UTF-8 HTML). Raises :class:`RenderFailed`."""
    if not chromium_available(settings):
        raise RenderFailed(f"no Chromium at {settings.chromium_path!r} (setting chromium_path)")
    refusal = await netguard.check_url(url, settings.allow_private)
    if refusal:
        raise RenderFailed(refusal)
    host = urlsplit(url).hostname or ""
    rules = await _pinned_rules([host, *script_hosts], settings)
    with tempfile.TemporaryDirectory(prefix="policyaudit-chromium-") as profile:
        args = [
            settings.chromium_path, "--headless", "--disable-gpu", "--no-first-run", "--disable-extensions",
            "--disable-background-networking", "--disable-sync", "--mute-audio", "--hide-scrollbars",
            f"--user-data-dir={profile}", f"--user-agent={settings.user_agent}",
            f"--host-resolver-rules={rules}", f"--virtual-time-budget={RENDER_BUDGET_MS}",
            "--dump-dom", url,
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses to start sandboxed as root
        proc = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL
        )
        try:
            async with asyncio.timeout(settings.total_timeout):
                out, err = await proc.communicate()
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise RenderFailed(f"Chromium did not finish rendering {url} in {settings.total_timeout}s") from None
    if proc.returncode != 0 or not out.strip():
        tail = err.decode("utf-8", errors="replace").strip().splitlines()[-1:] or [""]
        raise RenderFailed(f"Chromium could not render {url} (exit {proc.returncode}): {tail[0][:300]}")
    if len(out) > settings.max_bytes:
        raise RenderFailed(f"rendered DOM of {url} is over max_bytes={settings.max_bytes}")
    return out
