"""The intake's per-process source cache: reused while fresh, forgotten on a change made here."""

from collections.abc import Iterator

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import get_settings
from app.models import Lead, Source
from app.sources.service import forget_cached_sources

FORM = {"name": "Ada Lovelace", "phone": "+14155550142", "website": "bot.example"}


@pytest.fixture
def cache_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(get_settings(), "source_cache_seconds", 60.0)
    forget_cached_sources()
    yield
    forget_cached_sources()


async def leads(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Lead)) or 0)


@pytest.mark.usefixtures("cache_on")
async def test_a_change_made_elsewhere_waits_for_the_cache_one_made_here_does_not(
    client: AsyncClient, session: AsyncSession, source: Source, api_key: dict[str, str]
) -> None:
    assert (await client.post("/hooks/forms/landing", json=FORM)).status_code == 202
    # As another API process would: straight in the database, unseen by this one's cache.
    await session.execute(
        update(Source).where(Source.id == source.id).values(honeypot_field="website")
    )
    second = {**FORM, "phone": "+14155550143"}
    assert (await client.post("/hooks/forms/landing", json=second)).status_code == 202
    assert await leads(session) == 2  # the cached source has no honeypot yet
    patched = await client.patch(
        "/v1/sources/landing", json={"honeypot_field": "website"}, headers=api_key
    )
    assert patched.status_code == 200, patched.text
    third = {**FORM, "phone": "+14155550144"}
    assert (await client.post("/hooks/forms/landing", json=third)).status_code == 202
    assert await leads(session) == 2  # this process's change applies at once: a bot, dropped
