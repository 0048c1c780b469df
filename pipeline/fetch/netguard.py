"""Refuse to fetch from addresses that are not on the public internet.

A targets file or a redirect can point the fetcher at ``http://169.254.169.254/`` (cloud
metadata), ``http://10.0.0.5/admin`` or ``http://localhost:8080``. Unless
``Settings.allow_private`` is set (tests, local demos), every hop is checked::

    is_public_address("8.8.8.8")          # True
    is_public_address("::ffff:10.0.0.1")  # False: IPv4-mapped private address
    await check_url("http://127.0.0.1/", allow_private=False)
    # -> "http://127.0.0.1/: address 127.0.0.1 is not public (loopback)"

Two layers: :func:`check_url` before each request (all A/AAAA records must be public),
and :class:`GuardedBackend`, the network backend of the client made by
:func:`pipeline.fetch.client.make_client`, which checks again at connect time and connects
to the address it checked (no DNS-rebinding gap between check and connect).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import typing
from urllib.parse import urlsplit

import httpcore
from httpcore import AsyncNetworkBackend, AsyncNetworkStream

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
REFUSED_PREFIX = "refused address"


def _why_not_public(addr: IPAddress) -> str | None:
    """A reason ``addr`` is not public, or None if it is."""
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            inner = _why_not_public(addr.ipv4_mapped)
            return f"IPv4-mapped {inner}" if inner else None
        if addr.sixtofour is not None:
            inner = _why_not_public(addr.sixtofour)
            if inner:
                return f"6to4 {inner}"
        if addr in _NAT64:
            inner = _why_not_public(ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF))
            if inner:
                return f"NAT64 {inner}"
        if addr.teredo is not None:
            return "Teredo tunnel"
        if int(addr) >> 32 == 0 and int(addr) > 1:  # deprecated IPv4-compatible ::a.b.c.d
            return "IPv4-compatible"
    checks: tuple[tuple[str, bool], ...] = (
        ("unspecified", addr.is_unspecified),
        ("loopback", addr.is_loopback),
        ("link-local", addr.is_link_local),
        ("multicast", addr.is_multicast),
        ("carrier-grade NAT", isinstance(addr, ipaddress.IPv4Address) and addr in _CGNAT),
        ("private", addr.is_private),
        ("reserved", addr.is_reserved),
        ("site-local", isinstance(addr, ipaddress.IPv6Address) and addr.is_site_local),
        ("not globally routable", not addr.is_global),
    )
    for name, hit in checks:
        if hit:
            return name
    return None


def parse_ip(ip: str) -> IPAddress | None:
    """An address from text (``"::1"``, ``"[::1]"``, ``"fe80::1%eth0"``), or None."""
    text = ip.strip().strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def is_public_address(ip: str) -> bool:
    """True only for an address on the public internet; False for anything else, or not an address."""
    addr = parse_ip(ip)
    return addr is not None and _why_not_public(addr) is None


def address_problem(ip: str) -> str | None:
    """Why ``ip`` may not be contacted, or None if it is public."""
    addr = parse_ip(ip)
    if addr is None:
        return f"{ip!r} is not an IP address"
    why = _why_not_public(addr)
    return f"address {addr} is not public ({why})" if why else None


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be fetched at all, from its text alone (scheme, host, credentials)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"{url}: malformed URL ({exc})"
    if parts.scheme.lower() not in ("http", "https"):
        return f"{url}: scheme {parts.scheme or '(none)'!r} is not http or https"
    if not parts.hostname:
        return f"{url}: no host"
    if parts.username is not None or parts.password is not None:
        return f"{url}: URLs with credentials are not fetched"
    if port == 0:
        return f"{url}: port 0"
    return None


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (A and AAAA). Raises OSError when it does not resolve."""
    if parse_ip(host) is not None:
        return [str(parse_ip(host))]
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    out: list[str] = []
    for family, _, _, _, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            ip = str(sockaddr[0])
            if ip not in out:
                out.append(ip)
    return out


async def check_url(url: str, allow_private: bool) -> str | None:
    """A reason to refuse ``url``, or None to go ahead.

    Refuses non-http(s) schemes, credentials in the URL and, unless ``allow_private``,
    any host with an address that is not public. A host that does not resolve is not
    refused here (None): the request then fails as a network error.
    """
    problem = url_problem(url)
    if problem or allow_private:
        return problem
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    try:
        addresses = await resolve(host, port)
    except OSError:
        return None
    for ip in addresses:
        why = address_problem(ip)
        if why:
            return f"{url}: {why}"
    return None


class GuardedBackend(AsyncNetworkBackend):
    """An httpcore network backend that only connects to public addresses.

    Resolves the host itself, refuses if any address is not public, and connects to the
    checked address (TLS still verifies the host name: httpcore passes it as SNI).
    """

    def __init__(self, inner: AsyncNetworkBackend | None = None) -> None:
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> AsyncNetworkStream:
        try:
            addresses = await resolve(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"could not resolve {host}: {exc}") from exc
        if not addresses:
            raise httpcore.ConnectError(f"could not resolve {host}: no address")
        for ip in addresses:
            why = address_problem(ip)
            if why:
                raise httpcore.ConnectError(f"{REFUSED_PREFIX}: {host} {why}")
        last: Exception | None = None
        for ip in addresses:
            try:
                return await self._inner.connect_tcp(
                    ip, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except httpcore.ConnectError as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: typing.Iterable[typing.Any] | None = None
    ) -> AsyncNetworkStream:
        raise httpcore.ConnectError(f"{REFUSED_PREFIX}: unix socket {path}")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
