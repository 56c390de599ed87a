"""When a new lead's first call is owed: its own local hours decide, zone by zone."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest

from app.cadences.scheduler import first_call_due
from app.config import get_settings
from app.models import Source

LOS_ANGELES, NEW_YORK = ZoneInfo("America/Los_Angeles"), ZoneInfo("America/New_York")
LA_NUMBER, NY_NUMBER = "+12135550142", "+12125550142"
# 22:30 in Los Angeles is 01:30 in New York.
LATE_IN_LA = datetime(2026, 11, 27, 22, 30, tzinfo=LOS_ANGELES).astimezone(UTC)


@pytest.fixture(autouse=True)
def default_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped default (the test run itself allows calls around the clock)."""
    monkeypatch.setattr(get_settings(), "calling_window_start", "08:00")
    monkeypatch.setattr(get_settings(), "calling_window_end", "21:00")


def source(policy: str = "wait") -> Source:
    return Source(slug="late", name="Late form", default_region="US", after_hours_policy=policy)


def assert_opening(due: datetime, zone: ZoneInfo) -> None:
    local = due.astimezone(zone)
    opening = local.replace(hour=8, minute=0, second=0, microsecond=0)
    spread = timedelta(minutes=get_settings().window_spread_minutes)
    assert opening <= local <= opening + spread, local


def test_a_los_angeles_lead_at_22_30_is_called_at_the_next_8_am_there() -> None:
    due = first_call_due(uuid4(), LA_NUMBER, source(), LATE_IN_LA)
    assert due.astimezone(LOS_ANGELES).date() == datetime(2026, 11, 28).date()
    assert_opening(due, LOS_ANGELES)


def test_a_new_york_lead_at_the_same_instant_is_called_at_8_am_new_york_time() -> None:
    due = first_call_due(uuid4(), NY_NUMBER, source(), LATE_IN_LA)
    assert due.astimezone(NEW_YORK).date() == datetime(2026, 11, 28).date()
    assert_opening(due, NEW_YORK)
    assert due < first_call_due(uuid4(), LA_NUMBER, source(), LATE_IN_LA)


def test_inside_the_window_the_first_call_is_now() -> None:
    noon_in_la = datetime(2026, 11, 27, 12, 0, tzinfo=LOS_ANGELES).astimezone(UTC)
    assert first_call_due(uuid4(), LA_NUMBER, source(), noon_in_la) == noon_in_la


def test_a_source_may_call_at_once_whatever_the_hour() -> None:
    assert first_call_due(uuid4(), LA_NUMBER, source("call_now"), LATE_IN_LA) == LATE_IN_LA


def test_leads_waiting_for_the_same_opening_are_spread_over_its_first_minutes() -> None:
    dues = {first_call_due(uuid4(), LA_NUMBER, source(), LATE_IN_LA) for _ in range(20)}
    assert len(dues) > 10
    for due in dues:
        assert_opening(due, LOS_ANGELES)
