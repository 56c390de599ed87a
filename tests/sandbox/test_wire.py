"""Webhooks over the sandbox's own connections: aiohttp's bytes out, aiohttp's reading of answers,
aiohttp's names for failures, and aiohttp itself for what the wire does not do."""

import asyncio
import gzip
import re
import socket
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
import uvloop
import yarl

from sandbox.callbacks import Webhooks
from sandbox.wire import Pool, request_bytes

TOKEN = "12345678901234567890123456789012"
OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: 11\r\n\r\n<Response/>"


@dataclass
class RawServer:
    """Answers each request with the next scripted bytes (None: hang up without answering)."""

    answers: list[bytes | None] = field(default_factory=list)
    requests: list[bytes] = field(default_factory=list)
    connections: list[int] = field(default_factory=list)  # which connection carried each request
    opened: int = 0
    port: int = 0
    pause_s: float = 0.0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.opened += 1
        number = self.opened
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"Content-Length: (\d+)", head)
                body = await reader.readexactly(int(length[1])) if length else b""
                self.requests.append(head + body)
                self.connections.append(number)
                answer = self.answers.pop(0) if self.answers else OK
                if answer is None:
                    break
                third = len(answer) // 3
                for part in (answer[:third], answer[third : 2 * third], answer[2 * third :]):
                    writer.write(part)
                    await writer.drain()
                    await asyncio.sleep(self.pause_s)  # between the thirds of the answer
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    def url(self, path: str = "/twilio/voice?attempt=1") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
async def raw_server() -> AsyncIterator[RawServer]:
    server = RawServer()
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.port = listener.sockets[0].getsockname()[1]
    yield server
    listener.close()


@pytest.fixture
async def webhooks() -> AsyncIterator[Webhooks]:
    hooks = Webhooks(TOKEN, 0.3)
    yield hooks
    await hooks.aclose()


@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/twilio/voice/rep?attempt=7b1d&x=a+b", {"CallSid": "CA1", "To": "+1555", "Digits": ""}),
        ("/twilio/status", {}),
        ("/caf%C3%A9/a b?q=%2F&r=é", {"Body": "Café & crème"}),
    ],
)
async def test_the_wire_sends_what_aiohttp_sends(
    raw_server: RawServer, method: str, path: str, params: dict[str, str]
) -> None:
    hooks = Webhooks(TOKEN, 1.0)
    url, headers, body = hooks.signed_request(raw_server.url(path), method, params)
    async with aiohttp.ClientSession() as session:
        async with session.request(method, url, data=body, headers=headers) as response:
            await response.read()
    await hooks.deliver(method, url, headers, body)
    await hooks.aclose()
    by_aiohttp, by_wire = raw_server.requests
    assert by_wire == by_aiohttp
    assert request_bytes(method, yarl.URL(url), headers, body) == by_aiohttp


async def test_connections_are_kept_alive_until_the_server_closes(
    raw_server: RawServer, webhooks: Webhooks
) -> None:
    closing = b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"
    raw_server.answers = [OK, closing, OK, OK]
    results = [await webhooks.send(raw_server.url(), "POST", {"n": str(n)}) for n in range(4)]
    assert [r.status_code for r in results] == [200, 204, 200, 200]
    assert results[0].text == "<Response/>" and results[0].content_type == "application/xml"
    assert raw_server.connections == [1, 1, 2, 2]


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data, wbits=-zlib.MAX_WBITS)),
    ],
)
async def test_compressed_answers_are_decompressed(
    raw_server: RawServer, webhooks: Webhooks, encoding: str, compress: object
) -> None:
    assert callable(compress)
    body = compress("<Response><Say>Olá</Say></Response>".encode())
    raw_server.answers = [
        b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Encoding: "
        + encoding.encode()
        + b"\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    ]
    result = await webhooks.send(raw_server.url(), "POST", {})
    assert result.text == "<Response><Say>Olá</Say></Response>"


async def test_an_answer_that_does_not_decompress_is_a_failed_delivery(
    raw_server: RawServer, webhooks: Webhooks
) -> None:
    raw_server.answers = [
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 9\r\n\r\nnot gzip!",
        OK,
    ]
    result = await webhooks.send(raw_server.url(), "POST", {})
    assert result.error == "ClientPayloadError: Can not decode content-encoding: gzip"
    assert (await webhooks.send(raw_server.url(), "POST", {})).status_code == 200
    assert raw_server.connections == [1, 2]


async def test_chunked_answers_and_their_charset(raw_server: RawServer, webhooks: Webhooks) -> None:
    text = "<Response><Say>Olá</Say></Response>".encode("latin-1")
    raw_server.answers = [
        b"HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=ISO-8859-1\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
        + f"{len(text[:10]):x}\r\n".encode()
        + text[:10]
        + b"\r\n"
        + f"{len(text[10:]):x}\r\n".encode()
        + text[10:]
        + b"\r\n0\r\n\r\n"
    ]
    result = await webhooks.send(raw_server.url(), "POST", {})
    assert result.text == "<Response><Say>Olá</Say></Response>"
    assert result.content_type == "text/xml; charset=ISO-8859-1"


async def test_a_slow_answer_times_out_and_its_connection_is_dropped(
    raw_server: RawServer, webhooks: Webhooks
) -> None:
    raw_server.answers = [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab"]  # 3 bytes never come
    result = await webhooks.send(raw_server.url(), "POST", {})
    assert result.error == "timeout" and result.status_code is None
    assert (await webhooks.send(raw_server.url(), "POST", {})).status_code == 200
    assert raw_server.connections == [1, 2]


async def test_an_answer_that_keeps_coming_does_not_time_out(raw_server: RawServer) -> None:
    webhooks = Webhooks(TOKEN, 0.5)
    raw_server.pause_s = 0.3  # each third within the 0.5 s read timeout; the whole takes longer
    chunk = b"<Response/>"
    raw_server.answers = [
        b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n"
        + (f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n") * 40
        + b"0\r\n\r\n"
    ]
    result = await webhooks.send(raw_server.url(), "POST", {})
    assert result.status_code == 200 and result.elapsed_ms > 550
    assert result.text == "<Response/>" * 40
    await webhooks.aclose()


async def test_a_hang_up_is_named_as_before(raw_server: RawServer, webhooks: Webhooks) -> None:
    raw_server.answers = [None]
    result = await webhooks.send(raw_server.url(), "POST", {})
    assert result.error == "RemoteProtocolError: Server disconnected without sending a response."


async def test_a_get_is_tried_once_more_after_a_hang_up(
    raw_server: RawServer, webhooks: Webhooks
) -> None:
    raw_server.answers = [None, OK]
    result = await webhooks.send(raw_server.url(), "GET", {})
    assert result.status_code == 200 and len(raw_server.requests) == 2


async def test_a_garbled_answer_is_a_failed_delivery(
    raw_server: RawServer, webhooks: Webhooks
) -> None:
    raw_server.answers = [b"NOT HTTP AT ALL\r\n\r\n"]
    result = await webhooks.send(raw_server.url(), "POST", {})
    assert result.status_code is None and result.error is not None
    assert result.error.startswith("ClientResponseError")


async def test_a_refused_connection_is_named_by_aiohttp(
    raw_server: RawServer, webhooks: Webhooks
) -> None:
    with_no_server = f"http://127.0.0.1:{raw_server.port}/x".replace(
        str(raw_server.port), str(free_port())
    )
    result = await webhooks.send(with_no_server, "POST", {})
    assert result.error == "ConnectError: All connection attempts failed"


async def test_cookies_the_product_sets_are_sent_back(
    raw_server: RawServer, webhooks: Webhooks
) -> None:
    raw_server.answers = [
        b"HTTP/1.1 200 OK\r\nSet-Cookie: session=abc; Path=/\r\nContent-Length: 0\r\n\r\n"
    ]
    await webhooks.send(raw_server.url(), "POST", {})
    await webhooks.send(raw_server.url(), "POST", {})
    assert b"Cookie: session=abc" not in raw_server.requests[0]
    assert b"Cookie: session=abc" in raw_server.requests[1]


async def test_a_cancelled_delivery_drops_its_connection(
    raw_server: RawServer, webhooks: Webhooks
) -> None:
    raw_server.answers = [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"]  # body never comes
    sending = asyncio.create_task(webhooks.send(raw_server.url(), "POST", {}))
    await asyncio.sleep(0.1)
    sending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sending
    assert (await webhooks.send(raw_server.url(), "POST", {})).status_code == 200
    assert raw_server.connections == [1, 2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_the_wire_runs_on_uvloop_as_the_server_does() -> None:
    async def scenario() -> list[int | None]:
        server = RawServer(answers=[OK, OK])
        listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        server.port = listener.sockets[0].getsockname()[1]
        hooks = Webhooks(TOKEN, 1.0)
        results = [await hooks.send(server.url(), "POST", {"n": str(n)}) for n in range(2)]
        await hooks.aclose()
        listener.close()
        assert server.connections == [1, 1]
        return [result.status_code for result in results]

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(scenario()) == [200, 200]


async def test_waiting_too_long_for_a_free_slot_is_a_timeout(raw_server: RawServer) -> None:
    pool = Pool(timeout_s=0.6, limit=1)
    raw_server.pause_s = 0.45  # the first answer takes over 0.9 s, never 0.6 s without a read
    url = yarl.URL(raw_server.url())
    first = asyncio.create_task(pool.send("POST", url, {}, b""))
    await asyncio.sleep(0.05)
    with pytest.raises(TimeoutError):
        await pool.send("POST", url, {}, b"")  # the only slot is taken all along
    assert (await first).status == 200
    assert len(raw_server.requests) == 1
    pool.close()
