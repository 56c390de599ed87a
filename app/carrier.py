"""The one place that knows which carrier FirstRing talks to: Twilio, or the carrier sandbox.

Both speak Twilio's wire format, so the product always uses the official `twilio` library; only
the base URL differs. Build the client once per process and close it on shutdown:

    client = build_twilio_client(settings)
    call = await client.calls.create_async(to=..., from_=..., url=...)
    await close_twilio_client(client)
"""

import base64

import aiohttp
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from app.config import TWILIO_PRODUCTION_URL, Settings

# Calls are created in bursts; keep enough warm connections that none waits for a handshake.
MAX_CONNECTIONS = 100
KEEPALIVE_S = 60.0
REQUEST_TIMEOUT_S = 10.0


class CarrierHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]  # twilio ships no types
    """The library's aiohttp client, sending to `base_url` instead of https://api.twilio.com.

    The aiohttp session is created on first use, inside the running event loop (aiohttp refuses
    to create one outside it), and reused for every request: connections stay alive.
    """

    session: aiohttp.ClientSession | None

    def __init__(self, base_url: str, timeout: float = REQUEST_TIMEOUT_S) -> None:
        super().__init__(pool_connections=False, timeout=timeout)
        self.base_url = base_url.rstrip("/")

    def rewrite(self, url: str) -> str:
        if self.base_url != TWILIO_PRODUCTION_URL and url.startswith(TWILIO_PRODUCTION_URL):
            return self.base_url + url[len(TWILIO_PRODUCTION_URL) :]
        return url

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (the twilio library passes it)
        allow_redirects: bool = False,
    ) -> Response:
        if self.session is None:
            connector = aiohttp.TCPConnector(
                limit=MAX_CONNECTIONS, keepalive_timeout=KEEPALIVE_S, ttl_dns_cache=300
            )
            self.session = aiohttp.ClientSession(connector=connector)
        headers = dict(headers or {})
        if auth is not None:  # aiohttp deprecates BasicAuth objects, which the library would build
            headers["Authorization"] = basic_auth(*auth)
        # The library passes timeout=None, which aiohttp reads as "wait forever".
        timeout = timeout if timeout is not None else self.timeout
        response: Response = await super().request(
            method, self.rewrite(url), params, data, headers, None, timeout, allow_redirects
        )
        return response


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def build_twilio_client(settings: Settings) -> Client:
    http_client = CarrierHttpClient(settings.carrier_base_url)
    return Client(
        settings.carrier_account_sid, settings.carrier_auth_token, http_client=http_client
    )


async def close_twilio_client(client: Client) -> None:
    """Close the keep-alive connections; the client can be used again afterwards (it reopens)."""
    http_client = client.http_client
    if isinstance(http_client, CarrierHttpClient) and http_client.session is not None:
        await http_client.session.close()
        http_client.session = None
