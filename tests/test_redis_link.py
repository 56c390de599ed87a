"""The API's pipelined Redis link: replies to the right callers, scripts, errors, reconnects."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import hiredis
import pytest
from arq.connections import ArqRedis
from redis.asyncio import ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.config import get_settings
from app.queue import make_arq, run_script
from app.redis_link import RedisLink, Script
from tests.conftest import isolated_redis_url

Answer = Callable[[list[bytes]], bytes | None]


@asynccontextmanager
async def fake_redis(answer: Answer) -> AsyncIterator[tuple[int, list[list[list[bytes]]]]]:
    """A server on a free port that answers each command with `answer(command)` (None: no
    answer at all, b"": close the connection); yields its port and, per connection made to
    it, the commands it got."""
    received: list[list[list[bytes]]] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        parser, commands = hiredis.Reader(), []
        received.append(commands)
        while data := await reader.read(65536):
            parser.feed(data)
            while (command := parser.gets()) is not False:
                commands.append(command)
                reply = answer(command)
                if reply == b"":
                    writer.close()
                    return
                if reply is not None:
                    writer.write(reply)
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], received
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def link(arq_redis: ArqRedis) -> AsyncIterator[RedisLink]:
    found = RedisLink(isolated_redis_url(get_settings().redis_url), timeout=2)
    yield found
    found.close()


async def test_concurrent_calls_each_get_their_own_reply(link: RedisLink) -> None:
    replies = await asyncio.gather(*(link.call("ECHO", f"call {i}") for i in range(200)))
    assert replies == [f"call {i}".encode() for i in range(200)]


async def test_the_link_uses_the_database_its_url_names(
    link: RedisLink, arq_redis: ArqRedis
) -> None:
    await link.call("SET", "linked", "yes")
    assert await arq_redis.get("linked") == b"yes"  # arq_redis: the same URL through redis-py


async def test_a_script_redis_lacks_is_sent_whole_once_then_named_by_its_sha(
    link: RedisLink,
) -> None:
    script = Script(f"-- {uuid.uuid4()}\nreturn tonumber(ARGV[1]) + #KEYS")
    assert await link.call("SCRIPT", "EXISTS", script.sha) == [0]
    assert await link.run_script(script, ["a", "b"], [40]) == 42
    assert await link.call("SCRIPT", "EXISTS", script.sha) == [1]
    assert await link.run_script(script, ["a"], [1]) == 2


async def test_an_error_reply_is_redis_pys_error_and_the_next_call_still_works(
    link: RedisLink,
) -> None:
    await link.call("SET", "text", "not a number")
    with pytest.raises(ResponseError, match="not an integer"):
        await link.call("INCR", "text")
    assert await link.call("ECHO", "after") == b"after"


async def test_nothing_listening_is_a_connection_error() -> None:
    link = RedisLink("redis://127.0.0.1:1", timeout=1)
    with pytest.raises(RedisConnectionError):
        await link.call("PING")


async def test_a_silent_server_times_out_and_the_next_call_connects_again() -> None:
    async with fake_redis(lambda command: None) as (port, received):
        link = RedisLink(f"redis://127.0.0.1:{port}", timeout=0.05)
        with pytest.raises(RedisTimeoutError):
            await link.call("PING")
        with pytest.raises(RedisTimeoutError):
            await link.call("PING")
        link.close()
    assert received == [[[b"PING"]], [[b"PING"]]]  # a stalled connection is not used again


async def test_a_closed_connection_fails_its_calls_and_is_made_again() -> None:
    answers = iter([b"", b"+PONG\r\n"])
    async with fake_redis(lambda command: next(answers)) as (port, received):
        link = RedisLink(f"redis://127.0.0.1:{port}", timeout=1)
        with pytest.raises(RedisConnectionError, match="closed the connection"):
            await link.call("PING")
        assert await link.call("PING") == b"PONG"
        link.close()
    assert received == [[[b"PING"]], [[b"PING"]]]


async def test_the_password_and_database_are_sent_before_any_command() -> None:
    async with fake_redis(lambda command: b"+OK\r\n") as (port, received):
        link = RedisLink(f"redis://reader:s3cret@127.0.0.1:{port}/4", timeout=1)
        assert await link.call("PING") == b"OK"
        link.close()
    assert received == [[[b"AUTH", b"reader", b"s3cret"], [b"SELECT", b"4"], [b"PING"]]]


async def test_a_refused_password_is_a_connection_error() -> None:
    async with fake_redis(lambda command: b"-WRONGPASS invalid password\r\n") as (port, _):
        link = RedisLink(f"redis://:wrong@127.0.0.1:{port}", timeout=1)
        with pytest.raises(RedisConnectionError, match="WRONGPASS"):
            await link.call("PING")
        link.close()


async def test_tls_is_left_to_redis_py(arq_redis: ArqRedis) -> None:
    assert make_arq("rediss://127.0.0.1:6380/0").link is None
    url = isolated_redis_url(get_settings().redis_url)
    plain = ArqRedis(connection_pool=ConnectionPool.from_url(url))
    try:
        assert await run_script(plain, Script("return #KEYS"), ["a", "b", "c"], []) == 3
    finally:
        await plain.aclose()
        await plain.connection_pool.disconnect()
