"""Fixtures shared by the fetch-stage test modules: one loopback server per module, routes set per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.fetch.archive import Archive
from pipeline.serve.localserver import RequestLog, serve
from tests.test_fetch import Site


@pytest.fixture(scope="module")
def _server() -> Iterator[tuple[str, dict[str, Any], RequestLog]]:
    routes: dict[str, Any] = {}
    log = RequestLog()
    with serve(routes, log=log) as base:
        yield base, routes, log


@pytest.fixture
def site(_server: tuple[str, dict[str, Any], RequestLog]) -> Site:
    return Site(*_server)


@pytest.fixture
def archive(tmp_path: Path) -> Archive:
    return Archive(tmp_path / "archive")
