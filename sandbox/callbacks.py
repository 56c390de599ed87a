"""Webhooks to the product, signed exactly as Twilio signs them (X-Twilio-Signature)."""

import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from twilio.request_validator import RequestValidator

from sandbox.records import log_entry


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


class Webhooks:
    """One shared keep-alive client for every TwiML fetch and status callback."""

    def __init__(
        self, auth_token: str, timeout_s: float, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        """`transport` (e.g. httpx.ASGITransport) delivers to an in-process product instead."""
        self._validator = RequestValidator(auth_token)
        self._client = httpx.AsyncClient(
            timeout=timeout_s,
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            transport=transport,
        )

    def signed_request(
        self, url: str, method: str, params: dict[str, str]
    ) -> tuple[str, dict[str, str], dict[str, str] | None]:
        """Twilio signs the full URL plus, for POST, the sorted form parameters."""
        if method == "GET":
            url = f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"
            signature, body = self._validator.compute_signature(url, {}), None
        else:
            signature, body = self._validator.compute_signature(url, params), params
        headers = {
            "X-Twilio-Signature": signature,
            "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
            "User-Agent": "TwilioProxy/1.1 (FirstRing sandbox)",
        }
        return url, headers, body

    async def send(self, url: str, method: str, params: dict[str, str]) -> WebhookResult:
        return await self.deliver(method, *self.signed_request(url, method.upper(), params))

    async def deliver(
        self, method: str, full_url: str, headers: dict[str, str], body: dict[str, str] | None
    ) -> WebhookResult:
        """Send a request built by `signed_request`; sending it again repeats it exactly."""
        started = time.perf_counter()
        try:
            response = await self._client.request(
                method.upper(), full_url, data=body, headers=headers
            )
        except httpx.TimeoutException:
            return WebhookResult(None, "", "", "timeout", _ms_since(started))
        except httpx.HTTPError as exc:
            return WebhookResult(None, "", "", f"{type(exc).__name__}: {exc}", _ms_since(started))
        content_type = response.headers.get("content-type", "")
        return WebhookResult(
            response.status_code, response.text, content_type, None, _ms_since(started)
        )

    async def aclose(self) -> None:
        await self._client.aclose()


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
