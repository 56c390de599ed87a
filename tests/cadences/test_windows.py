"""Calling windows and team shifts: real numbers, real zones, the days the clocks change."""

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from phonenumbers import geocoder

from app.cadences.windows import (
    EIGHT_TO_EIGHT,
    MIDNIGHT,
    STATE_RULES,
    NoOpening,
    Shift,
    StateRule,
    Window,
    is_open,
    lead_window,
    lead_zones,
    next_opening,
    parse_hhmm,
    parse_window,
    parse_zone,
    region_rule,
    shift_of,
    when_allowed,
)
from app.config import Settings
from app.models import Source, Team

LA = ZoneInfo("America/Los_Angeles")
NY = ZoneInfo("America/New_York")
CHICAGO = ZoneInfo("America/Chicago")
MANILA = ZoneInfo("Asia/Manila")
DAY = Window(time(8), time(21))
NEW_YORK_PHONE = "+12125550123"
LOS_ANGELES_PHONE = "+12135550123"
MIAMI_PHONE = "+13055550123"
SAN_FRANCISCO_PHONE = "+14155550123"
LONDON_PHONE = "+442071234567"
TOLL_FREE_PHONE = "+18005551234"
LEAD = uuid.UUID("5f0c6d4e-8a43-4c1b-9a57-3d2f0e6b7c21")
WEEKDAYS = frozenset({1, 2, 3, 4, 5})


def settings(start: str = "08:00", end: str = "21:00") -> Settings:
    return Settings(calling_window_start=start, calling_window_end=end)


def source(start: str | None = None, end: str | None = None) -> Source:
    return Source(slug="landing", calling_window_start=start, calling_window_end=end)


def allowed(phone: str, due: datetime, *, shift: Shift | None = None, spread: int = 15) -> datetime:
    window = lead_window(phone, source(), settings())
    return when_allowed(phone, due, window=window, shift=shift, lead_id=LEAD, spread_minutes=spread)


# The lead's local window


@pytest.mark.parametrize("phone", [LOS_ANGELES_PHONE, "+13105550123", SAN_FRANCISCO_PHONE])
def test_a_los_angeles_lead_at_half_past_ten_waits_for_the_first_minutes_of_the_morning(
    phone: str,
) -> None:
    got = allowed(phone, datetime(2025, 6, 10, 22, 30, tzinfo=LA))

    local = got.astimezone(LA)
    assert got.tzinfo is UTC
    assert local.date() == date(2025, 6, 11)
    assert time(8) <= local.time() < time(8, 15)


def test_a_new_york_lead_at_the_same_instant_waits_for_new_york_s_morning() -> None:
    due = datetime(2025, 6, 10, 22, 30, tzinfo=LA)  # 01:30 in New York

    local = allowed(NEW_YORK_PHONE, due).astimezone(NY)

    assert local.date() == date(2025, 6, 11)
    assert time(8) <= local.time() < time(8, 15)


def test_florida_stops_at_eight_in_the_evening_california_at_nine() -> None:
    florida = lead_window(MIAMI_PHONE, source(), settings())
    california = lead_window(SAN_FRANCISCO_PHONE, source(), settings())

    assert florida == Window(time(8), time(20))
    assert california == Window(time(8), time(21))
    assert not is_open(MIAMI_PHONE, datetime(2025, 6, 10, 20, 30, tzinfo=NY), florida)
    assert is_open(SAN_FRANCISCO_PHONE, datetime(2025, 6, 10, 20, 30, tzinfo=LA), california)
    opening = next_opening(MIAMI_PHONE, datetime(2025, 6, 10, 20, 30, tzinfo=NY), florida)
    assert opening == datetime(2025, 6, 11, 8, tzinfo=NY)


def test_a_step_inside_the_window_is_not_moved() -> None:
    due = datetime(2025, 6, 10, 12, 0, 7, tzinfo=NY)

    assert allowed(NEW_YORK_PHONE, due) == due


def test_a_window_ending_at_24_00_runs_to_midnight() -> None:
    window = parse_window("08:00", "24:00")

    assert window == Window(time(8), MIDNIGHT)
    assert str(window) == "08:00-24:00"
    assert is_open(NEW_YORK_PHONE, datetime(2025, 6, 10, 23, 59, 59, tzinfo=NY), window)
    assert not is_open(NEW_YORK_PHONE, datetime(2025, 6, 11, 0, 0, tzinfo=NY), window)


# Source windows and region rules


def test_a_source_window_replaces_the_default() -> None:
    window = lead_window(SAN_FRANCISCO_PHONE, source("10:00", "18:00"), settings())

    assert window == Window(time(10), time(18))
    assert not is_open(SAN_FRANCISCO_PHONE, datetime(2025, 6, 10, 9, 59, tzinfo=LA), window)
    assert is_open(SAN_FRANCISCO_PHONE, datetime(2025, 6, 10, 10, 0, tzinfo=LA), window)
    assert is_open(SAN_FRANCISCO_PHONE, datetime(2025, 6, 10, 17, 59, tzinfo=LA), window)
    assert not is_open(SAN_FRANCISCO_PHONE, datetime(2025, 6, 10, 18, 0, tzinfo=LA), window)


def test_a_bound_the_source_leaves_null_is_the_default_s() -> None:
    assert lead_window(LONDON_PHONE, source(end="17:00"), settings()) == Window(time(8), time(17))
    assert lead_window(LONDON_PHONE, source(start="09:30"), settings()) == Window(
        time(9, 30), time(21)
    )


@pytest.mark.parametrize(
    ("phone", "start", "end", "expected"),
    [
        (MIAMI_PHONE, "07:00", "22:00", Window(time(8), time(20))),
        (MIAMI_PHONE, "19:00", "23:00", Window(time(19), time(20))),
        (MIAMI_PHONE, "09:00", "17:00", Window(time(9), time(17))),
        (SAN_FRANCISCO_PHONE, "07:00", "22:00", Window(time(7), time(22))),  # no state rule
        (LONDON_PHONE, "07:00", "22:00", Window(time(7), time(22))),
    ],
)
def test_a_source_window_never_goes_past_the_region_s_rule(
    phone: str, start: str, end: str, expected: Window
) -> None:
    assert lead_window(phone, source(start, end), settings()) == expected


def test_a_wider_default_is_still_held_to_a_state_rule() -> None:
    wide = settings("07:00", "23:00")

    assert lead_window(SAN_FRANCISCO_PHONE, source(), wide) == Window(time(7), time(23))
    assert lead_window(MIAMI_PHONE, source(), wide) == EIGHT_TO_EIGHT
    assert lead_window(LONDON_PHONE, source(), wide) == Window(time(7), time(23))


def test_a_source_window_outside_the_law_leaves_no_opening() -> None:
    with pytest.raises(NoOpening, match="outside the legal window 08:00-20:00"):
        lead_window(MIAMI_PHONE, source("21:00", "23:00"), settings())
    with pytest.raises(NoOpening, match="source 'landing'"):
        lead_window(LONDON_PHONE, source("24:00", "24:00"), settings())


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        (MIAMI_PHONE, EIGHT_TO_EIGHT),
        ("+17285550123", EIGHT_TO_EIGHT),  # Palm Beach's 2025 overlay
        ("+14055550123", EIGHT_TO_EIGHT),  # Oklahoma City
        ("+14105550123", EIGHT_TO_EIGHT),  # Baltimore
        ("+12065550123", EIGHT_TO_EIGHT),  # Seattle
        (SAN_FRANCISCO_PHONE, None),
        (NEW_YORK_PHONE, None),
        ("+12025550123", None),  # Washington, D.C. is not Washington State
        ("+14165550123", None),  # Toronto
        (LONDON_PHONE, None),
    ],
)
def test_region_rules(phone: str, expected: Window | None) -> None:
    assert region_rule(phone) == expected


def geocoded_area_codes(state: str, name: str) -> set[str]:
    """The US area codes whose numbers phonenumbers' geocoder places in the state."""
    found = set()
    for area_code in range(200, 1000):
        for exchange in ("234", "555", "456", "789", "321", "200"):
            number = phonenumbers.parse(f"+1{area_code}{exchange}4567")
            if phonenumbers.is_valid_number(number):
                place = geocoder.description_for_number(number, "en")
                if place == name or place.endswith(f", {state}"):
                    found.add(str(area_code))
                break
    return found


@pytest.mark.parametrize("rule", STATE_RULES, ids=lambda rule: rule.code)
def test_each_state_s_area_codes_match_phonenumbers_data(rule: StateRule) -> None:
    assert rule.area_codes == geocoded_area_codes(rule.code, rule.name)


# Time zones of a number


def test_a_number_in_one_zone() -> None:
    assert lead_zones(LOS_ANGELES_PHONE) == [LA]
    assert lead_zones(LONDON_PHONE) == [ZoneInfo("Europe/London")]


def test_a_caribbean_mobile_is_placed_by_its_area_code() -> None:
    # phonenumbers gives a Caribbean mobile all 42 zones of the NANP.
    assert lead_zones("+12684641234") == [ZoneInfo("America/Antigua")]


def test_area_codes_phonenumbers_misplaces_are_corrected() -> None:
    assert lead_zones("+16895550123") == [NY]  # Orlando, not Central time
    assert set(lead_zones("+14485550123")) == {CHICAGO, NY}  # Pensacola to Tallahassee


def test_a_number_across_two_zones_is_called_only_when_both_are_in_the_window() -> None:
    panhandle = "+14485550123"
    window = lead_window(panhandle, source(), settings())

    assert not is_open(panhandle, datetime(2025, 6, 10, 8, 30, tzinfo=NY), window)
    opening = next_opening(panhandle, datetime(2025, 6, 10, 8, 30, tzinfo=NY), window)
    assert opening == datetime(2025, 6, 10, 9, 0, tzinfo=NY)  # 08:00 in Pensacola
    assert is_open(panhandle, datetime(2025, 6, 10, 19, 59, tzinfo=NY), window)
    assert not is_open(panhandle, datetime(2025, 6, 10, 20, 0, tzinfo=NY), window)


def test_an_australian_mobile_waits_for_every_australian_zone() -> None:
    mobile = "+61412345678"
    zones = lead_zones(mobile)
    at = datetime(2025, 1, 15, 22, 30, tzinfo=UTC)  # 09:30 in Sydney, 06:30 in Perth

    assert ZoneInfo("Australia/Perth") in zones and ZoneInfo("Australia/Sydney") in zones
    assert not is_open(mobile, at, DAY)
    opening = next_opening(mobile, at, DAY)
    assert opening == datetime(2025, 1, 16, 1, 30, tzinfo=UTC)  # 08:00 on the Cocos Islands
    assert all(time(8) <= opening.astimezone(zone).time() < time(21) for zone in zones)


def test_a_toll_free_number_opens_when_all_its_42_zones_are_in_the_window() -> None:
    zones = lead_zones(TOLL_FREE_PHONE)
    opening = next_opening(TOLL_FREE_PHONE, datetime(2025, 6, 11, 5, 30, tzinfo=UTC), DAY)

    assert len(zones) == 42 and ZoneInfo("Pacific/Guam") in zones
    assert all(time(8) <= opening.astimezone(zone).time() < time(21) for zone in zones)


def test_zones_that_never_share_the_window_yield_to_the_largest_group_that_does() -> None:
    narrow = Window(time(10), time(16))

    opening = next_opening(TOLL_FREE_PHONE, datetime(2025, 6, 11, 5, 30, tzinfo=UTC), narrow)

    outside = {
        zone.key
        for zone in lead_zones(TOLL_FREE_PHONE)
        if not time(10) <= opening.astimezone(zone).time() < time(16)
    }
    assert outside == {
        "America/Adak",
        "Pacific/Guam",
        "Pacific/Honolulu",
        "Pacific/Pago_Pago",
        "Pacific/Saipan",
    }


def test_a_number_no_zone_is_known_for_is_never_in_its_window() -> None:
    freephone = "+80012345678"  # international freephone: phonenumbers says Etc/Unknown
    at = datetime(2025, 6, 10, 12, tzinfo=UTC)

    assert lead_zones(freephone) == []
    assert not is_open(freephone, at, DAY)
    with pytest.raises(NoOpening, match="cannot be called within 8 days"):
        next_opening(freephone, at, DAY)


def test_an_unknown_nanp_number_falls_back_to_every_nanp_zone() -> None:
    unassigned = "+19995551234"  # phonenumbers cannot type it: Etc/Unknown

    assert set(lead_zones(unassigned)) == set(lead_zones(TOLL_FREE_PHONE))


# The days the clocks change


def test_spring_forward_opens_at_eight_daylight_time() -> None:
    before = next_opening(LOS_ANGELES_PHONE, datetime(2025, 3, 8, 9, 30, tzinfo=UTC), DAY)
    change = next_opening(LOS_ANGELES_PHONE, datetime(2025, 3, 9, 9, 30, tzinfo=UTC), DAY)

    assert before == datetime(2025, 3, 8, 16, 0, tzinfo=UTC)  # 08:00 PST
    assert change == datetime(2025, 3, 9, 15, 0, tzinfo=UTC)  # 08:00 PDT


def test_fall_back_opens_at_eight_standard_time() -> None:
    opening = next_opening(LOS_ANGELES_PHONE, datetime(2025, 11, 2, 7, 30, tzinfo=UTC), DAY)

    assert opening == datetime(2025, 11, 2, 16, 0, tzinfo=UTC)  # 08:00 PST
    assert opening.astimezone(LA).time() == time(8)


def test_a_start_the_spring_change_skips_opens_just_after_it() -> None:
    early = Window(time(2, 30), time(21))  # 02:30 does not exist in New York on 2025-03-09

    opening = next_opening(NEW_YORK_PHONE, datetime(2025, 3, 9, 6, 0, tzinfo=UTC), early)

    assert opening == datetime(2025, 3, 9, 7, 30, tzinfo=UTC)
    assert opening.astimezone(NY).time() == time(3, 30)


# Team shifts


def test_a_team_without_hours_is_always_on_shift() -> None:
    assert shift_of(None) is None
    assert shift_of(Team(slug="night-owls", timezone="UTC")) is None


def test_a_shift_is_built_from_the_team() -> None:
    team = Team(
        slug="closers",
        timezone="America/New_York",
        shift_start="09:00",
        shift_end="24:00",
        shift_days=[1, 2, 3, 4, 5],
    )

    assert shift_of(team) == Shift(NY, time(9), MIDNIGHT, WEEKDAYS)


def test_a_team_with_a_bad_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="'Mars/Olympus' is not an IANA time zone"):
        shift_of(Team(slug="t", timezone="Mars/Olympus", shift_start="09:00", shift_end="17:00"))


def test_calls_wait_for_monday_when_the_team_is_off_on_sunday() -> None:
    shift = Shift(NY, time(9), time(17), WEEKDAYS)
    sunday_noon = datetime(2025, 6, 8, 12, 0, tzinfo=NY)

    assert is_open(NEW_YORK_PHONE, sunday_noon, DAY)
    assert not is_open(NEW_YORK_PHONE, sunday_noon, DAY, shift)
    assert next_opening(NEW_YORK_PHONE, sunday_noon, DAY, shift) == datetime(
        2025, 6, 9, 9, 0, tzinfo=NY
    )
    # The team is on at 06:00 in Los Angeles: the lead's window opens two hours later.
    assert next_opening(LOS_ANGELES_PHONE, sunday_noon, DAY, shift) == datetime(
        2025, 6, 9, 8, 0, tzinfo=LA
    )


def test_an_overnight_shift_runs_into_the_next_morning() -> None:
    shift = Shift(MANILA, time(21), time(6), WEEKDAYS)

    def on(day: int, hour: int, minute: int = 0) -> bool:
        at = datetime(2025, 6, day, hour, minute, tzinfo=MANILA)
        return is_open(NEW_YORK_PHONE, at, DAY, shift)

    assert on(9, 21)  # Monday night in Manila, 09:00 in New York
    assert on(10, 5, 59)
    assert not on(10, 6)
    assert on(14, 5)  # Saturday morning: Friday's shift
    assert not on(14, 21)  # no shift starts on Saturday


def test_a_shift_that_never_meets_the_window_leaves_no_opening() -> None:
    small_hours = Shift(ZoneInfo("UTC"), time(2), time(4), frozenset(range(1, 8)))
    no_days = Shift(NY, time(9), time(17), frozenset())
    at = datetime(2025, 6, 10, 12, tzinfo=UTC)

    with pytest.raises(NoOpening):
        next_opening(NEW_YORK_PHONE, at, DAY, small_hours)
    with pytest.raises(NoOpening):
        allowed(NEW_YORK_PHONE, at, shift=no_days)


# The spread over the first minutes


def test_the_spread_is_the_same_every_time_for_a_lead_and_stays_in_bounds() -> None:
    due = datetime(2025, 6, 10, 22, 30, tzinfo=LA)
    opening = datetime(2025, 6, 11, 8, 0, tzinfo=LA)
    leads = [uuid.uuid4() for _ in range(200)]

    times = [
        when_allowed(
            LOS_ANGELES_PHONE, due, window=DAY, shift=None, lead_id=lead, spread_minutes=15
        )
        for lead in leads
    ]

    assert all(opening <= got < opening + timedelta(minutes=15) for got in times)
    assert len(set(times)) > 150
    again = when_allowed(
        LOS_ANGELES_PHONE, due, window=DAY, shift=None, lead_id=leads[0], spread_minutes=15
    )
    assert again == times[0]


def test_no_spread_means_the_opening_itself() -> None:
    got = allowed(NEW_YORK_PHONE, datetime(2025, 6, 10, 3, 0, tzinfo=NY), spread=0)

    assert got == datetime(2025, 6, 10, 8, 0, tzinfo=NY)


def test_the_spread_stays_inside_a_short_opening() -> None:
    two_minutes = Shift(NY, time(8), time(8, 2), frozenset(range(1, 8)))
    opening = datetime(2025, 6, 10, 8, 0, tzinfo=NY)

    for _ in range(50):
        got = when_allowed(
            NEW_YORK_PHONE,
            datetime(2025, 6, 10, 3, 0, tzinfo=NY),
            window=DAY,
            shift=two_minutes,
            lead_id=uuid.uuid4(),
            spread_minutes=15,
        )
        assert opening <= got < opening + timedelta(minutes=2)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        is_open(NEW_YORK_PHONE, datetime(2025, 6, 10, 12), DAY)


# Parsing HH:MM


@pytest.mark.parametrize(
    ("value", "expected"), [("00:00", time(0)), ("08:05", time(8, 5)), ("23:59", time(23, 59))]
)
def test_parse_hhmm(value: str, expected: time) -> None:
    assert parse_hhmm(value) == expected
    assert parse_hhmm(value, end=True) == expected


def test_24_00_ends_a_window_but_cannot_start_one() -> None:
    assert parse_hhmm("24:00", end=True) == MIDNIGHT
    with pytest.raises(ValueError, match="'24:00' is the end of the day"):
        parse_hhmm("24:00")


@pytest.mark.parametrize(
    "value", ["8:00", "08:0", "25:00", "12:60", "noon", "", "08:00:00", " 08:00", "24:01", "0800"]
)
def test_parse_hhmm_refuses_what_is_not_hh_mm(value: str) -> None:
    with pytest.raises(ValueError, match=f"'{value}' is not a time of day as HH:MM"):
        parse_hhmm(value, end=True)


def test_a_window_must_start_before_it_ends() -> None:
    with pytest.raises(ValueError, match="the window 21:00-08:00 is empty"):
        parse_window("21:00", "08:00")
    with pytest.raises(ValueError, match="empty"):
        parse_window("09:00", "09:00")


def test_parse_zone() -> None:
    assert parse_zone("Asia/Manila") == MANILA
    with pytest.raises(ValueError, match="not an IANA time zone"):
        parse_zone("Etc/Unknown")
