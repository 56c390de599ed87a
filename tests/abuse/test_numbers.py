"""Only numbers of allowed countries and of types that reach a person at a normal price."""

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import InvalidField
from app.models import Lead, Source
from app.phones import to_dialable_e164


async def lead_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Lead)) or 0)


@pytest.fixture
async def us_source(session: AsyncSession) -> Source:
    """As created through the API: its own country only."""
    found = Source(slug="us-form", name="US form", default_region="US", allowed_countries=[])
    session.add(found)
    await session.flush()
    return found


@pytest.mark.parametrize(
    ("phone", "kind"),
    [
        ("+1 900 555 0100", "premium_rate"),
        ("1-800-555-0100", "toll_free"),  # free to call, but a business line, never a lead's
        ("+1 500 555 0100", "personal_number"),
    ],
)
async def test_numbers_of_refused_types_are_422_with_the_type(
    client: AsyncClient, session: AsyncSession, us_source: Source, phone: str, kind: str
) -> None:
    response = await client.post("/hooks/forms/us-form", json={"name": "X", "phone": phone})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("number_type_not_allowed", "phone")
    assert f"type {kind}" in error["message"]
    assert await lead_count(session) == 0


@pytest.mark.parametrize(
    ("phone", "country"), [("+44 20 7946 0000", "GB"), ("+1 876 555 0100", "JM")]
)
async def test_numbers_of_other_countries_are_422_with_the_country(
    client: AsyncClient, session: AsyncSession, us_source: Source, phone: str, country: str
) -> None:
    response = await client.post("/hooks/forms/us-form", json={"tel": phone})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("country_not_allowed", "tel")
    assert f"a number in {country}" in error["message"] and "only numbers in US" in error["message"]
    assert await lead_count(session) == 0


async def test_listed_countries_are_called(
    client: AsyncClient, session: AsyncSession, us_source: Source
) -> None:
    us_source.allowed_countries = ["US", "GB"]
    await session.flush()
    response = await client.post("/hooks/forms/us-form", json={"phone": "+44 20 7946 0000"})
    assert response.status_code == 202, response.text
    refused = await client.post("/hooks/forms/us-form", json={"phone": "+1 416 555 0100"})
    assert refused.json()["error"]["code"] == "country_not_allowed"


async def test_empty_list_follows_the_default_region(
    client: AsyncClient, session: AsyncSession, us_source: Source
) -> None:
    us_source.default_region = "GB"
    await session.flush()
    response = await client.post("/hooks/forms/us-form", json={"phone": "020 7946 0000"})
    assert response.status_code == 202, response.text


def test_no_list_means_any_country_but_types_still_apply() -> None:
    assert (
        to_dialable_e164("+44 20 7946 0000", region="US", allowed_regions=None, field="phone")
        == "+442079460000"
    )
    with pytest.raises(InvalidField) as refused:
        to_dialable_e164("+44 871 234 5678", region="US", allowed_regions=None, field="phone")
    assert refused.value.code == "number_type_not_allowed"


@pytest.mark.parametrize("phone", ["(415) 555-0142", "+1 415 555 0142", "+14155550142"])
def test_ordinary_us_numbers_pass(phone: str) -> None:
    assert to_dialable_e164(phone, region="US", allowed_regions=["US"], field="phone") == (
        "+14155550142"
    )
