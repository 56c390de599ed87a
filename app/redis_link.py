"""One pipelined Redis connection for the API's per-request scripts (limits, enqueues).

redis-py 5 (arq pins redis<6) checks a pool connection out for every command, reads the socket
with a zero timeout on each checkout and wraps every read in a timeout: for a form webhook's
two one-line scripts that machinery cost more CPU than the scripts. Here every call writes its
command on one shared connection and waits for its reply, replies being matched to calls in
the order they were sent (Redis answers in order), so concurrent requests share the socket
without a pool or a lock. Errors are redis-py's, so callers handle one set of exceptions.
"""

import asyncio
import hashlib
from collections import deque
from typing import Any, cast

import hiredis
from redis.asyncio.connection import parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

Reply = Any


def command(*args: str | int | bytes) -> bytes:
    """RESP: an array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class ReplyProtocol(asyncio.Protocol):
    """Parses replies and hands each to the oldest call still waiting for one."""

    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.waiting: deque[asyncio.Future[Reply]] = deque()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            future = self.waiting.popleft()
            if not future.done():  # a call that timed out still owns its place in line
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        lost = RedisConnectionError(f"Redis closed the connection ({exc or 'EOF'})")
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(lost)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def send(self, data: bytes) -> asyncio.Future[Reply]:
        assert self.transport is not None
        future = asyncio.get_running_loop().create_future()
        self.waiting.append(future)
        self.transport.write(data)
        return future


class RedisLink:
    """A lazily connected link: creating it never fails, a lost connection is made again on
    the next call, and every call (connecting included) gives up after `timeout` seconds."""

    def __init__(self, url: str, *, timeout: float) -> None:
        self.options = parse_url(url)
        self.timeout = timeout
        self.protocol: ReplyProtocol | None = None
        self.connecting: asyncio.Lock | None = None

    @staticmethod
    def supports(url: str) -> bool:
        """Plain TCP and unix sockets; TLS and the rest are left to redis-py."""
        return url.startswith(("redis://", "unix://"))

    async def call(self, *args: str | int | bytes) -> Reply:
        """One command's reply; redis-py's ResponseError for an error reply."""
        try:
            async with asyncio.timeout(self.timeout):
                protocol = self.protocol
                if protocol is None or protocol.transport is None:
                    protocol = await self.connect()
                reply = await protocol.send(command(*args))
        except TimeoutError as exc:
            self.close()  # as redis-py does: a connection that stalls is not trusted again
            raise RedisTimeoutError(f"Redis did not answer within {self.timeout} s") from exc
        except OSError as exc:
            raise RedisConnectionError(f"Redis is unreachable ({exc})") from exc
        if isinstance(reply, hiredis.ReplyError):
            error = NoScriptError if str(reply).startswith("NOSCRIPT") else ResponseError
            raise error(str(reply))
        return reply

    async def run_script(self, script: "Script", keys: list[str], args: list[Any]) -> Reply:
        """EVALSHA, and EVAL (which caches the script) the first time Redis lacks it."""
        try:
            return await self.call("EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await self.call("EVAL", script.source, len(keys), *keys, *args)

    async def connect(self) -> ReplyProtocol:
        """One connection however many calls ask at once."""
        if self.connecting is None:
            self.connecting = asyncio.Lock()
        async with self.connecting:
            if self.protocol is not None and self.protocol.transport is not None:
                return self.protocol
            protocol = await self.open()
            try:
                await self.set_up(protocol)
            except BaseException:
                protocol.close()
                raise
            self.protocol = protocol
            return protocol

    async def set_up(self, protocol: ReplyProtocol) -> None:
        """AUTH and SELECT, as the URL says."""
        setup = []
        if password := self.options.get("password"):
            user = self.options.get("username")
            setup.append(protocol.send(command("AUTH", *([user] if user else []), password)))
        if db := self.options.get("db"):
            setup.append(protocol.send(command("SELECT", db)))
        for reply in await asyncio.gather(*setup):
            if isinstance(reply, hiredis.ReplyError):
                raise RedisConnectionError(f"Redis refused the connection's setup: {reply}")

    async def open(self) -> ReplyProtocol:
        loop = asyncio.get_running_loop()
        if "path" in self.options:
            _, protocol = await loop.create_unix_connection(ReplyProtocol, self.options["path"])
        else:
            host, port = self.options.get("host", "localhost"), self.options.get("port", 6379)
            _, protocol = await loop.create_connection(ReplyProtocol, host, port)
        return protocol

    def close(self) -> None:
        if self.protocol is not None:
            self.protocol.close()
        self.protocol = None


class Script:
    """A Lua script and its SHA1, which EVALSHA names it by."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()
