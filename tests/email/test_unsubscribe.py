"""The unsubscribe pages: GET only asks, POST opts out, forged links change nothing."""

from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.email.links import unsubscribe_url
from app.models import Event, Lead, Source
from tests.email.conftest import add_lead

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def path_of(url: str) -> str:
    return "/unsubscribe/" + url.rsplit("/", 1)[1]


async def opted_out_events(session: AsyncSession) -> int:
    count = await session.scalar(
        select(func.count()).select_from(Event).where(Event.type == "lead.opted_out")
    )
    return count or 0


async def test_get_asks_and_changes_nothing(
    client: AsyncClient, session: AsyncSession, company_source: Source, app_settings: Settings
) -> None:
    lead = await add_lead(session, company_source, email="ada@example.com")

    page = await client.get(path_of(unsubscribe_url(lead.id, app_settings)))

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "Unsubscribe from Acme Roofing?" in page.text
    assert '<form method="post">' in page.text
    await session.refresh(lead)
    assert lead.opted_out_at is None and await opted_out_events(session) == 0


async def test_post_opts_out_every_lead_with_that_address_once(
    client: AsyncClient, session: AsyncSession, company_source: Source, app_settings: Settings
) -> None:
    lead = await add_lead(session, company_source, email="ada@example.com")
    again = await add_lead(session, company_source, email=" ADA@example.com", phone="+14155550143")
    other = await add_lead(session, company_source, email="bob@example.com", phone="+14155550144")
    path = path_of(unsubscribe_url(lead.id, app_settings))

    first = await client.post(path, data=ONE_CLICK)

    assert first.status_code == 200 and "You are unsubscribed" in first.text
    for each in (lead, again, other):
        await session.refresh(each)
    assert lead.opted_out_at is not None and lead.status == "opted_out"
    assert again.opted_out_at is not None
    assert other.opted_out_at is None
    when = lead.opted_out_at

    second = await client.post(path, data=ONE_CLICK)

    assert second.status_code == 200
    await session.refresh(lead)
    assert lead.opted_out_at == when
    assert await opted_out_events(session) == 2


async def test_a_tampered_link_is_refused_and_changes_nothing(
    client: AsyncClient, session: AsyncSession, company_source: Source, app_settings: Settings
) -> None:
    lead = await add_lead(session, company_source, email="ada@example.com")
    path = path_of(unsubscribe_url(lead.id, app_settings))
    tampered = path[:-3] + ("x" if path[-3] != "x" else "y") + path[-2:]

    for method in ("GET", "POST"):
        refused = await client.request(method, tampered, data=ONE_CLICK)
        assert refused.status_code == 404, method
        assert "not valid" in refused.text
    await session.refresh(lead)
    assert lead.opted_out_at is None and await opted_out_events(session) == 0


async def test_a_link_to_a_lead_that_is_gone_is_refused(
    client: AsyncClient, session: AsyncSession, company_source: Source, app_settings: Settings
) -> None:
    lead = await add_lead(session, company_source, email="ada@example.com")
    path = path_of(unsubscribe_url(lead.id, app_settings))
    await session.delete(await session.get_one(Lead, lead.id))
    await session.flush()

    assert (await client.post(path, data=ONE_CLICK)).status_code == 404


async def test_the_company_is_escaped(
    client: AsyncClient, session: AsyncSession, company_source: Source, app_settings: Settings
) -> None:
    company_source.company = "<b>A&B</b>"
    lead = await add_lead(session, company_source, email="ada@example.com")

    page = await client.get(path_of(unsubscribe_url(lead.id, app_settings)))

    assert "&lt;b&gt;A&amp;B&lt;/b&gt;" in page.text and "<b>" not in page.text
