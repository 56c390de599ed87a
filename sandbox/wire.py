"""Plain-HTTP webhooks on keep-alive connections of the sandbox's own.

aiohttp's request machinery costs ~0.2 ms of CPU per webhook on a small machine, this ~0.02 ms,
and a lead's call makes ten of them. It sends the bytes aiohttp sends (a test compares them) and
reads the answer the way aiohttp does (gzip/deflate, charset). Whatever it does not do goes to
aiohttp instead (Webhooks._over_network): HTTPS, proxies, products that set cookies, and every
connection it cannot open, so that connection errors keep aiohttp's names.
"""

import asyncio
import socket
import zlib
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from typing import cast

import aiohttp
import httptools
import yarl
from aiohttp.helpers import parse_content_type
from multidict import CIMultiDict, CIMultiDictProxy

IDEMPOTENT = frozenset(
    {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"}
)  # aiohttp retries these


class CannotConnect(Exception):
    """No connection could be opened: aiohttp tries, and names the error if it fails too."""


class Garbled(Exception):
    """The answer is not HTTP; reported as aiohttp reports it, a ClientResponseError (400)."""


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    charset: str | None
    body: bytes
    cookies: tuple[str, ...]  # Set-Cookie values, for aiohttp's cookie jar


class Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._waiter: asyncio.Future[Reply] | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._read_timeout_s = 0.0
        self._last_read = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self.keep_alive = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:  # as aiohttp does: requests go out whole, no Nagle delay
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(aiohttp.ServerDisconnectedError())

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            self.close()  # nothing was asked: the connection cannot be trusted any more
            return
        self._last_read = asyncio.get_running_loop().time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(Garbled(str(exc)))
            self.close()

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self.keep_alive = self._parser.should_keep_alive()
        if self._timer is not None:
            self._timer.cancel()
        if self._waiter is None or self._waiter.done():
            return
        try:
            self._waiter.set_result(self._reply())
        except aiohttp.ClientPayloadError as exc:  # an answer that does not decompress
            self._waiter.set_exception(exc)

    async def exchange(self, request: bytes, read_timeout_s: float) -> Reply:
        """Send one request; its answer, or aiohttp's exception for what went wrong."""
        assert self.transport is not None
        self._parser = httptools.HttpResponseParser(self)
        self._headers, self._body = [], []
        self._read_timeout_s = read_timeout_s
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        self.keep_alive = False
        self.transport.write(request)
        self._last_read = loop.time()
        self._timer = loop.call_at(self._last_read + read_timeout_s, self._check_reads)
        try:
            return await self._waiter
        finally:
            waiter, self._waiter = self._waiter, None
            if not waiter.done() or waiter.cancelled() or waiter.exception() is not None:
                self.close()  # cancelled or failed half way: the connection is unusable

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self.transport is not None:
            self.transport.close()
        self.closed = True

    def _check_reads(self) -> None:
        """aiohttp's sock_read: at most this long between two reads of the answer. One timer
        per request, moved on when it fires early, rather than a new timer per read."""
        loop = asyncio.get_running_loop()
        due = self._last_read + self._read_timeout_s
        if loop.time() < due:
            self._timer = loop.call_at(due, self._check_reads)
        else:
            self._fail(TimeoutError())

    def _fail(self, exc: Exception) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)

    def _reply(self) -> Reply:
        content_type, encoding, cookies = "", "", []
        for name, value in self._headers:
            lowered = name.lower()
            if lowered == b"content-type" and not content_type:
                content_type = value.decode("utf-8", "surrogateescape")
            elif lowered == b"content-encoding":
                encoding = value.decode("latin-1").strip().lower()
            elif lowered == b"set-cookie":
                cookies.append(value.decode("utf-8", "surrogateescape"))
        body = decoded(b"".join(self._body), encoding)
        status = self._parser.get_status_code()
        return Reply(status, content_type, charset(content_type), body, tuple(cookies))


def decoded(body: bytes, encoding: str) -> bytes:
    """aiohttp's automatic decompression of the encodings the sandbox accepts."""
    if not body or encoding not in ("gzip", "deflate"):
        return body
    if encoding == "gzip":
        wbits = 16 + zlib.MAX_WBITS
    else:  # deflate: zlib-wrapped, or raw as some servers send it
        wbits = zlib.MAX_WBITS if body[0] & 0x0F == 8 else -zlib.MAX_WBITS
    try:
        return zlib.decompress(body, wbits)
    except zlib.error as exc:
        raise aiohttp.ClientPayloadError(f"Can not decode content-encoding: {encoding}") from exc


@lru_cache(maxsize=64)
def charset(content_type: str) -> str | None:
    """ClientResponse.charset: the charset parameter of Content-Type."""
    if not content_type:
        return None
    return parse_content_type(content_type)[1].get("charset")


def request_bytes(method: str, url: yarl.URL, headers: dict[str, str], body: bytes | None) -> bytes:
    """What aiohttp writes: request line, Host, the headers in order, Content-Length, body."""
    lines = [f"{method} {url.raw_path_qs} HTTP/1.1", f"Host: {url.host_port_subcomponent}"]
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")
    return head + body if body else head


class Pool:
    """Idle connections per host and port; at most `limit` requests in flight, as aiohttp's."""

    def __init__(self, timeout_s: float, limit: int) -> None:
        self._timeout_s = timeout_s
        self._slots = asyncio.Semaphore(limit)
        self._idle: defaultdict[tuple[str, int], list[Connection]] = defaultdict(list)

    async def send(
        self, method: str, url: yarl.URL, headers: dict[str, str], body: bytes | None
    ) -> Reply:
        request = request_bytes(method, url, headers, body)
        key = (url.raw_host or "", url.port or 80)
        if self._slots.locked():  # aiohttp's connect timeout covers the wait for a free slot
            async with asyncio.timeout(self._timeout_s):
                await self._slots.acquire()
        else:
            await self._slots.acquire()  # a free slot: no wait, no timer
        try:
            retry = method in IDEMPOTENT
            while True:
                connection = self._idle_connection(key) or await self._connect(key)
                try:
                    reply = await connection.exchange(request, self._timeout_s)
                except aiohttp.ServerDisconnectedError:
                    if not retry:
                        raise
                    retry = False
                    continue
                except Garbled as exc:
                    info = aiohttp.RequestInfo(url, method, CIMultiDictProxy(CIMultiDict()), url)
                    message = f"Bad HTTP answer: {exc}"
                    raise aiohttp.ClientResponseError(
                        info, (), status=400, message=message
                    ) from exc
                if connection.keep_alive and not connection.closed:
                    self._idle[key].append(connection)
                else:
                    connection.close()
                return reply
        finally:
            self._slots.release()

    def _idle_connection(self, key: tuple[str, int]) -> Connection | None:
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()
            if not connection.closed:
                return connection
        return None

    async def _connect(self, key: tuple[str, int]) -> Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._timeout_s):
                _, connection = await loop.create_connection(Connection, *key)
        except TimeoutError:
            raise  # a timeout, as aiohttp's connect timeout: not tried again
        except OSError as exc:
            raise CannotConnect() from exc
        return connection

    def close(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()
