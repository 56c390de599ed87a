"""Helpers for the abuse tests: settings changed for one test, posts from a given address."""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient

from app.config import Settings, get_settings

PUBLIC_ADDRESS = "81.2.69.160"  # any address outside the internal networks


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Settings]:
    """`settings(intake_rate_per_ip_per_minute=2)` changes the cached settings for this test."""

    def change(**values: Any) -> Settings:
        current = get_settings()
        for name, value in values.items():
            monkeypatch.setattr(current, name, value)
        return current

    return change


@pytest.fixture
def client_at(
    client: AsyncClient,
) -> Callable[[str], AbstractAsyncContextManager[AsyncClient]]:
    """A client whose requests come from `address`, sharing `client`'s session and Redis."""
    from app.main import app

    @asynccontextmanager
    async def at(address: str) -> AsyncIterator[AsyncClient]:
        transport = ASGITransport(app=app, client=(address, 50000))
        async with AsyncClient(transport=transport, base_url=client.base_url) as other:
            yield other

    return at
