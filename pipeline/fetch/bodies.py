"""Response bodies, decompressed in bounded steps, and the internal exception that ends a fetch.

    async for piece in _decoded_chunks(response, url):   # gzip/deflate undone INFLATE_STEP bytes at a time
        ...

httpx's own decoders inflate each received chunk whole; these never produce more than
``INFLATE_STEP`` bytes per step, so a decompression bomb is stopped at the size cap.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Iterator

import httpx

from pipeline.records import FetchOutcome

INFLATE_STEP = 64 * 1024  # most output one decompression step may produce


class _Stop(Exception):
    """Internal: ends a fetch with a recorded outcome."""

    def __init__(self, outcome: FetchOutcome, error: str, **fields: object) -> None:
        super().__init__(error)
        self.outcome = outcome
        self.error = error
        self.fields = fields


# ---------------------------------------------------------------- bodies: bounded decompression


class _Inflater:
    """Streaming gzip/deflate decoder that never produces more than INFLATE_STEP bytes per step.

    httpx's own decoders inflate each received chunk whole (a 64 KB chunk of zeros becomes
    ~64 MB at once); this one yields the output in steps, so reading stops at the size cap.
    """

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self._d: zlib._Decompress | None = None  # deflate: chosen on the first bytes (zlib or raw)
        if coding in ("gzip", "x-gzip"):
            self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def _start(self, data: bytes) -> zlib._Decompress:
        if self._d is None:
            zlib_header = len(data) >= 2 and data[0] & 0x0F == 8 and ((data[0] << 8) | data[1]) % 31 == 0
            self._d = zlib.decompressobj(zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS)
        return self._d

    def feed(self, data: bytes) -> Iterator[bytes]:
        if not data:
            return
        d = self._start(data)
        pending = data
        while True:
            out = d.decompress(pending, INFLATE_STEP)
            pending = d.unconsumed_tail
            if out:
                yield out
            if d.eof:
                rest = d.unused_data
                if self.coding in ("gzip", "x-gzip") and rest.strip(b"\x00"):
                    d = self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)  # next gzip member
                    pending = rest
                    continue
                return
            if not pending and len(out) < INFLATE_STEP:
                return

    def finish(self) -> bytes:
        if self._d is None or self._d.eof:
            return b""
        return self._d.flush(INFLATE_STEP)


def _inflaters(content_encoding: str | None, url: str) -> list[_Inflater]:
    codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    for coding in codings:
        if coding not in ("gzip", "x-gzip", "deflate"):
            raise _Stop(
                FetchOutcome.UNSUPPORTED_CONTENT,
                f"{url} sent Content-Encoding {coding!r}, which we did not ask for and do not decode",
            )
    return [_Inflater(c) for c in reversed(codings)]  # the last coding applied is undone first


async def _decoded_chunks(response: httpx.Response, url: str = "") -> AsyncIterator[bytes]:
    """The body of a streamed response, decompressed in bounded steps."""
    try:
        already = response.content  # a response built in memory (e.g. by a MockTransport), decoded by httpx
    except httpx.ResponseNotRead:
        pass
    else:
        yield already
        return
    stages = _inflaters(response.headers.get("content-encoding"), url)

    def through(data: bytes, i: int = 0) -> Iterator[bytes]:
        if i == len(stages):
            yield data
            return
        for piece in stages[i].feed(data):
            yield from through(piece, i + 1)

    async for raw in response.aiter_raw():
        for piece in through(raw):
            yield piece
    for i, stage in enumerate(stages):
        tail = stage.finish()
        if tail:
            for piece in through(tail, i + 1):
                yield piece
