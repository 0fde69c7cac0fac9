"""Hijacked connections: after `101 UPGRADED` the HTTP connection is a raw byte stream.

Docker's attach and exec start answer `Upgrade: tcp` with 101 and then speak raw bytes (the
container's output one way, stdin the other). With aiohttp the takeover is done at the protocol:
the 101 is written by a StreamResponse (no body, so no chunked encoding), then the request
handler's protocol gets a payload "parser" of ours (`set_parser`, as aiohttp's own websockets do)
which receives what the client sent along with the request; from then on the transport talks to
`_Takeover`. Writes go to the transport directly.

Half-close: the docker CLI shuts down its write side when its stdin ends and keeps reading the
output. asyncio closes a transport whose protocol's `eof_received` returns false, so the hijacked
protocol's `eof_received` is replaced by one that records the EOF and keeps the transport open.
(The handler protocol has __slots__, so the transport is given a small protocol of ours instead,
which passes connection loss and flow control on to aiohttp's.) The handler must stay inside its coroutine until the stream is over: when it returns, aiohttp
finishes the request and closes the connection.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

RAW_STREAM = "application/vnd.docker.raw-stream"
MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream"


class _Feed:
    """aiohttp calls feed_data with every chunk the client sends and feed_eof when it is gone."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.eof = False

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if data and not self.eof:
            self.queue.put_nowait(bytes(data))
        return False, b""

    def feed_eof(self) -> None:
        if not self.eof:
            self.eof = True
            self.queue.put_nowait(b"")


class _Takeover(asyncio.Protocol):
    """The connection's protocol after the takeover: bytes to the feed, EOF kept half-open, the
    rest (flow control, connection loss) to aiohttp's handler so it cleans up as usual."""

    def __init__(self, inner: Any, feed: _Feed) -> None:
        self.inner = inner
        self.feed = feed

    def data_received(self, data: bytes) -> None:
        self.feed.feed_data(data)

    def eof_received(self) -> bool:
        self.feed.feed_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.feed.feed_eof()
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class Hijacked:
    def __init__(self, request: web.Request, feed: _Feed) -> None:
        self.request = request
        self.transport = request.transport
        self._feed = feed

    async def read(self) -> bytes:
        """The next bytes from the client; b"" once it closed its side."""
        return await self._feed.queue.get()

    async def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("client went away")
        transport.write(data)
        if transport.get_write_buffer_size() > 1 << 20:
            protocol: Any = self.request.protocol
            drain = getattr(protocol, "_drain_helper", None)
            if drain is not None:
                await drain()

    @property
    def closed(self) -> bool:
        return self.transport is None or self.transport.is_closing()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


async def hijack(request: web.Request, content_type: str) -> Hijacked:
    """Answer 101 (or 200 for a client that did not ask to upgrade) and take the connection over."""
    upgrade = request.headers.get("Upgrade", "").lower() == "tcp"
    headers = {"Content-Type": content_type}
    if upgrade:
        headers.update({"Connection": "Upgrade", "Upgrade": "tcp"})
        resp = web.StreamResponse(status=101, reason="UPGRADED", headers=headers)
    else:
        resp = web.StreamResponse(status=200, headers=headers)
        resp._length_check = False  # raw stream until close, as dockerd does for old clients
    resp.force_close()
    await resp.prepare(request)
    feed = _Feed()
    protocol: Any = request.protocol
    protocol.set_parser(feed)  # hands over what came with the request
    transport = request.transport
    if transport is not None and upgrade:
        transport.set_protocol(_Takeover(protocol, feed))
    if not upgrade:
        # Without an upgrade aiohttp would parse further bytes as requests; there is no stdin then.
        feed.feed_eof()
    return Hijacked(request, feed)
