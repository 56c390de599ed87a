"""Webhooks to the product, signed exactly as Twilio signs them (X-Twilio-Signature).

Over the network they go through one aiohttp session: httpx cost ~2.4 ms of CPU per request
here (~0.4 ms with aiohttp), and a lead's call makes ten of them. An injected httpx transport
(an in-process product in tests) is still served by httpx. Both send the same bytes.
"""

import base64
import codecs
import hmac
import os
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote_plus
from urllib.request import getproxies

import aiohttp
import httpx
import yarl

from sandbox import wire
from sandbox.records import log_entry

# What httpx sent by default, kept so the product sees the same request whichever client sends.
COMMON_HEADERS = {
    "Accept": "*/*",
    "Accept-Encoding": "gzip, deflate",
    "Connection": "keep-alive",
    "User-Agent": "TwilioProxy/1.1 (FirstRing sandbox)",
}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
LIMIT = 200  # requests in flight at once


@dataclass(frozen=True)
class WebhookResult:
    status_code: int | None
    text: str
    content_type: str
    error: str | None  # "timeout" or a connection error; None when an HTTP answer came back
    elapsed_ms: float

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class Answer:
    status_code: int
    text: str
    content_type: str


class Webhooks:
    """One shared keep-alive connection pool for every TwiML fetch and status callback."""

    def __init__(
        self, auth_token: str, timeout_s: float, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        """`transport` (e.g. httpx.ASGITransport) delivers to an in-process product instead."""
        self._token = auth_token.encode()
        self._timeout_s = timeout_s
        self._transport = transport
        self._session: aiohttp.ClientSession | None = None  # opened inside the event loop
        self._wire: wire.Pool | None = None  # plain HTTP without proxies or cookies goes here
        self._httpx: httpx.AsyncClient | None = None

    def signed_request(
        self, url: str, method: str, params: dict[str, str]
    ) -> tuple[str, dict[str, str], bytes | None]:
        """Twilio signs the full URL plus, for POST, the sorted form parameters."""
        if method == "GET":
            url = f"{url}{'&' if '?' in url else '?'}{form_encode(params)}"
            signature, body = self.signature(url, {}), None
        else:
            signature, body = self.signature(url, params), form_encode(params).encode()
        headers = {
            **COMMON_HEADERS,
            "X-Twilio-Signature": signature,
            "I-Twilio-Idempotency-Token": idempotency_token(),
            **(FORM if body is not None else {}),
        }
        return url, headers, body

    def signature(self, url: str, params: dict[str, str]) -> str:
        """twilio's RequestValidator.compute_signature for one value per name, in one pass."""
        payload = url + "".join(name + params[name] for name in sorted(params))
        return base64.b64encode(hmac.digest(self._token, payload.encode(), "sha1")).decode()

    async def send(self, url: str, method: str, params: dict[str, str]) -> WebhookResult:
        return await self.deliver(method, *self.signed_request(url, method.upper(), params))

    async def deliver(
        self, method: str, full_url: str, headers: dict[str, str], body: bytes | None
    ) -> WebhookResult:
        """Send a request built by `signed_request`; sending it again repeats it exactly."""
        started = time.perf_counter()
        try:
            if self._transport is None:
                answer = await self._over_network(method.upper(), full_url, headers, body)
            else:
                answer = await self._over_transport(method.upper(), full_url, headers, body)
        except (TimeoutError, httpx.TimeoutException):
            return WebhookResult(None, "", "", "timeout", _ms_since(started))
        except (aiohttp.ClientError, httpx.HTTPError) as exc:
            return WebhookResult(None, "", "", connection_error(exc), _ms_since(started))
        return WebhookResult(
            answer.status_code, answer.text, answer.content_type, None, _ms_since(started)
        )

    async def _over_network(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None
    ) -> Answer:
        if self._session is None:
            self._session = self._open_session()
            self._wire = None if self._session.trust_env else wire.Pool(self._timeout_s, LIMIT)
        parsed = parsed_url(url)
        if self._wire is not None and parsed.scheme == "http" and not len(self._session.cookie_jar):
            try:
                return await self._over_wire(self._wire, method, parsed, headers, body)
            except wire.CannotConnect:
                pass  # aiohttp tries to connect too, and names the error if it cannot
        async with self._session.request(
            method, parsed, data=body, headers=headers, allow_redirects=False
        ) as response:
            content = await response.read()
            text = content.decode(text_encoding(response.charset), errors="replace")
            return Answer(response.status, text, response.headers.get("Content-Type", ""))

    async def _over_wire(
        self,
        pool: wire.Pool,
        method: str,
        url: yarl.URL,
        headers: dict[str, str],
        body: bytes | None,
    ) -> Answer:
        reply = await pool.send(method, url, headers, body)
        if reply.cookies and self._session is not None:  # from now on aiohttp sends them back
            self._session.cookie_jar.update_cookies_from_headers(list(reply.cookies), url)
        text = reply.body.decode(text_encoding(reply.charset), errors="replace")
        return Answer(reply.status, text, reply.content_type)

    def _open_session(self) -> aiohttp.ClientSession:
        """As httpx was set up: per-phase timeouts, 200 connections, env proxies, a cookie jar."""
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=self._timeout_s,
            sock_connect=self._timeout_s,
            sock_read=self._timeout_s,
        )
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=LIMIT, limit_per_host=0),
            timeout=timeout,
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            # No skip_auto_headers: COMMON_HEADERS already names every header aiohttp would add,
            # and skipping costs a CIMultiDict per request.
            # aiohttp looks the proxy up in a thread per request; only pay that when one is set.
            trust_env=bool(getproxies()),
        )

    async def _over_transport(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None
    ) -> Answer:
        if self._httpx is None:
            self._httpx = httpx.AsyncClient(timeout=self._timeout_s, transport=self._transport)
        response = await self._httpx.request(method, url, content=body, headers=headers)
        return Answer(response.status_code, response.text, response.headers.get("content-type", ""))

    async def aclose(self) -> None:
        if self._wire is not None:
            self._wire.close()
        if self._session is not None:
            await self._session.close()
        if self._httpx is not None:
            await self._httpx.aclose()


@lru_cache(maxsize=4096)
def quoted(value: str) -> str:
    """Phone numbers, URLs and SIDs recur in every request about a call: escape each once."""
    return quote_plus(value)


def idempotency_token() -> str:
    """str(uuid.uuid4()) in half the time: 16 random bytes with the version 4 and variant bits."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40
    raw[8] = raw[8] & 0x3F | 0x80
    digits = raw.hex()
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


@lru_cache(maxsize=4096)
def parsed_url(url: str) -> yarl.URL:
    """The URL aiohttp would parse from the string; a call's callbacks share theirs."""
    return yarl.URL(url)


def form_encode(params: dict[str, str]) -> str:
    """`urllib.parse.urlencode(params)`, byte for byte, for string values."""
    return "&".join(f"{quoted(name)}={quoted(value)}" for name, value in params.items())


def text_encoding(charset: str | None) -> str:
    """The response's declared charset if Python knows it, else UTF-8 (as httpx decoded)."""
    if charset:
        try:
            return codecs.lookup(charset).name
        except LookupError:
            pass
    return "utf-8"


def connection_error(exc: Exception) -> str:
    """Name a failed delivery in httpx's words, which the call logs have always used."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"ConnectError: {exc.os_error}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "ConnectError: All connection attempts failed"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "RemoteProtocolError: Server disconnected without sending a response."
    return f"{type(exc).__name__}: {exc}"


def delivery_log(
    kind: str, url: str, method: str, params: dict[str, str], result: WebhookResult
) -> dict[str, Any]:
    return log_entry(
        kind=kind,
        url=url,
        method=method,
        params=params,
        status_code=result.status_code,
        error=result.error,
        elapsed_ms=round(result.elapsed_ms, 2),
    )


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
