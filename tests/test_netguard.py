"""pipeline.fetch.netguard: which addresses and URLs may be fetched. No traffic leaves loopback."""

from __future__ import annotations

import asyncio

import httpcore
import pytest

from pipeline.fetch.netguard import GuardedBackend, address_problem, check_url, is_public_address, url_problem
from pipeline.serve.localserver import RequestLog, Route, serve


@pytest.mark.parametrize(
    "ip",
    [
        "10.0.0.1", "172.16.5.4", "192.168.1.1",  # private
        "127.0.0.1", "127.8.9.10", "::1",  # loopback
        "169.254.169.254", "fe80::1", "fe80::1%eth0",  # link-local (cloud metadata)
        "0.0.0.0", "::",  # unspecified
        "224.0.0.1", "ff02::1",  # multicast
        "240.0.0.1", "255.255.255.255",  # reserved, broadcast
        "100.64.0.1", "100.127.255.254",  # carrier-grade NAT
        "fc00::1", "fd12:3456::1",  # unique local
        "::ffff:10.0.0.1", "::ffff:127.0.0.1", "::ffff:169.254.169.254",  # IPv4-mapped
        "2002:0a00:0001::1",  # 6to4 of 10.0.0.1
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "192.0.2.1", "198.51.100.7", "203.0.113.9", "2001:db8::1",  # documentation
        "198.18.0.1",  # benchmarking
        "not-an-ip", "", "999.1.1.1",
    ],
)
def test_non_public_addresses_are_refused(ip: str) -> None:
    assert is_public_address(ip) is False


@pytest.mark.parametrize(
    "ip", ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8", "[2001:4860:4860::8888]"]
)
def test_public_addresses_are_allowed(ip: str) -> None:
    assert is_public_address(ip) is True


def test_address_problem_names_the_reason() -> None:
    assert "loopback" in (address_problem("127.0.0.1") or "")
    assert "link-local" in (address_problem("169.254.169.254") or "")
    assert "carrier-grade NAT" in (address_problem("100.64.1.1") or "")
    assert address_problem("8.8.8.8") is None


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("ftp://example.com/privacy", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("javascript:alert(1)", "scheme"),
        ("http://user:secret@example.com/", "credentials"),
        ("http:///nohost", "no host"),
        ("http://example.com:99999/", "malformed"),
    ],
)
def test_url_problem_rejects_bad_urls(url: str, fragment: str) -> None:
    assert fragment in (url_problem(url) or "")


def test_url_problem_accepts_http_and_https() -> None:
    assert url_problem("https://example.com/privacy?lang=zh") is None
    assert url_problem("http://[2001:db8::1]:8080/") is None


def test_check_url_refuses_metadata_address_without_any_lookup() -> None:
    reason = asyncio.run(check_url("http://169.254.169.254/latest/meta-data/", allow_private=False))
    assert reason is not None and "169.254.169.254" in reason


def test_check_url_refuses_localhost_by_name() -> None:
    reason = asyncio.run(check_url("http://localhost:8080/", allow_private=False))
    assert reason is not None and "loopback" in reason


def test_check_url_refuses_ipv4_mapped_literal() -> None:
    assert asyncio.run(check_url("http://[::ffff:10.0.0.1]/", allow_private=False)) is not None


def test_check_url_allow_private_lets_loopback_through_but_not_bad_schemes() -> None:
    assert asyncio.run(check_url("http://127.0.0.1:9/", allow_private=True)) is None
    assert asyncio.run(check_url("file:///etc/passwd", allow_private=True)) is not None
    assert asyncio.run(check_url("http://u:p@127.0.0.1/", allow_private=True)) is not None


def test_guarded_backend_refuses_loopback_at_connect_time_and_server_sees_nothing() -> None:
    log = RequestLog()
    with serve({"/": Route(b"hi")}, log=log) as base:
        port = int(base.rsplit(":", 1)[1])

        async def connect() -> None:
            await GuardedBackend().connect_tcp("127.0.0.1", port, timeout=1.0)

        with pytest.raises(httpcore.ConnectError, match="refused address"):
            asyncio.run(connect())
    assert log.entries == []
