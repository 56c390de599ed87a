"""When a lead may be called or texted, and when its team is on shift.

Pure functions, no database: every datetime in and out is timezone-aware and comes out in UTC.
A lead's calling window is a daily span of local time at the lead's location, which the
number tells (phonenumbers); a team's shift is a daily span in the team's own zone. A step
due outside them moves to the next instant both allow, spread over the first minutes so a
night's leads do not all ring at 08:00:00.
"""

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import PhoneNumber, geocoder
from phonenumbers import timezone as number_zones
from phonenumbers.geodata import GEOCODE_DATA, GEOCODE_LONGEST_PREFIX
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

from app.config import Settings
from app.models import Source, Team
from app.phones import NumberKind, kind_of

# A window's or shift's end at MIDNIGHT is "24:00": the midnight that ends the day.
MIDNIGHT = time(0)
EVERY_DAY = frozenset(range(1, 8))
# How far ahead an opening is looked for: a week of shifts, and a day to spare.
SEARCH_DAYS = 8
DAY_SECONDS = 24 * 3600
_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")

Run = tuple[datetime, datetime]  # [start, end) in UTC
V = TypeVar("V")


class NoOpening(ValueError):
    """Nothing lets this lead be called: no instant in SEARCH_DAYS days inside its window (and
    its team's shift), or a window that cannot hold at all. The step cannot be scheduled."""


def _seconds(clock: time) -> int:
    return clock.hour * 3600 + clock.minute * 60 + clock.second


def _end_seconds(clock: time) -> int:
    return DAY_SECONDS if clock == MIDNIGHT else _seconds(clock)


@dataclass(frozen=True)
class Window:
    """A daily span [start, end) of the lead's local time. `end` may be MIDNIGHT (24:00); a
    window never runs past midnight, so it must start before it ends."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if _seconds(self.start) >= _end_seconds(self.end):
            raise ValueError(f"the window {self} is empty: it must start before it ends")

    def __str__(self) -> str:
        end = "24:00" if self.end == MIDNIGHT else f"{self.end:%H:%M}"
        return f"{self.start:%H:%M}-{end}"

    @property
    def length(self) -> timedelta:
        return timedelta(seconds=_end_seconds(self.end) - _seconds(self.start))

    def holds(self, clock: time) -> bool:
        return _seconds(self.start) <= _seconds(clock) < _end_seconds(self.end)

    def overlap(self, other: "Window") -> "Window | None":
        start = max(self.start, other.start)
        end = min(self.end, other.end, key=_end_seconds)
        return Window(start, end) if _seconds(start) < _end_seconds(end) else None


@dataclass(frozen=True)
class Shift:
    """A team's working hours in its zone, on the ISO weekdays (1 = Monday) a shift starts.

    An end not after the start runs overnight into the next day ("22:00"-"06:00"); an end equal
    to the start makes a 24-hour shift ("00:00"-"24:00")."""

    zone: ZoneInfo
    start: time
    end: time
    days: frozenset[int]


def parse_hhmm(value: str, *, end: bool = False) -> time:
    """ "HH:MM" on a 24-hour clock; with `end`, also "24:00" (returned as MIDNIGHT).

    For the validators of sources' calling windows and teams' shifts."""
    if value == "24:00":
        if end:
            return MIDNIGHT
        raise ValueError("'24:00' is the end of the day: it can end a window, not start one")
    match = _HHMM.fullmatch(value)
    if match is None:
        latest = "24:00" if end else "23:59"
        raise ValueError(f"'{value}' is not a time of day as HH:MM (00:00 to {latest})")
    return time(int(match[1]), int(match[2]))


def parse_window(start: str, end: str) -> Window:
    """A calling window from its two "HH:MM" ends; ValueError says what is wrong with them."""
    return Window(parse_hhmm(start), parse_hhmm(end, end=True))


def parse_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"'{name}' is not an IANA time zone like 'America/New_York'") from exc


# The law's calling hours where the lead is. A region rule only ever narrows a window: a
# source can be stricter than the law, never wider. Rules that differ by weekday (Texas's
# Sunday noon start, states that bar Sunday calls) do not fit a daily window and are not here.

# The federal rule, no telephone solicitation "before the hour of 8 a.m. or after 9 p.m.
# (local time at the called party's location)", 47 CFR § 64.1200(c)(1), is the default window
# (CALLING_WINDOW_START/END) rather than a rule here: a solicitation there excludes a call the
# person invited (§ 64.1200(f)(15)), which a form asking to be called is, so a source whose
# leads ask for calls at other hours may widen it. The state rules below are stricter and stay.


@dataclass(frozen=True)
class StateRule:
    code: str  # as the geocoder ends a city's name: "Miami, FL"
    name: str  # as the geocoder names the whole state: "Florida"
    window: Window
    area_codes: frozenset[str]


EIGHT_TO_EIGHT = Window(time(8), time(20))


def _codes(*listed: str) -> frozenset[str]:
    return frozenset(code for line in listed for code in line.split())


# Area codes: every code NANPA has assigned to the state, as phonenumbers' geocoding data
# (9.0.43) lists them; tests/cadences/test_windows.py fails when the two drift apart.
STATE_RULES = (
    # No commercial telephone solicitation "before 8 a.m. or after 8 p.m. local time in the
    # called person's time zone", Fla. Stat. § 501.616(6)(a), as amended in 2021 (SB 1120).
    # A call to a Florida area code is presumed to reach a person in Florida, § 501.059(8)(d).
    StateRule(
        "FL",
        "Florida",
        EIGHT_TO_EIGHT,
        _codes(
            "239 305 321 324 352 386 407 448 561 645 656 689",
            "727 728 754 772 786 813 850 863 904 941 954",
        ),
    ),
    # Telephone Solicitation Act of 2022: calls only from 8 a.m. to 8 p.m. in the called
    # party's time zone, 15 O.S. § 775C.4.
    StateRule("OK", "Oklahoma", EIGHT_TO_EIGHT, _codes("405 539 572 580 918")),
    # Stop the Spam Calls Act of 2023 (in force 2024-01-01): no telephone solicitation from
    # 8 p.m. to 8 a.m. in the called party's time zone, Md. Code, Com. Law § 14-4502.
    StateRule("MD", "Maryland", EIGHT_TO_EIGHT, _codes("227 240 301 410 443 667")),
    # A commercial telephone solicitor "shall not place calls to any person which will be
    # received before 8:00 a.m. or after 8:00 p.m. at the call recipient's local time",
    # RCW 19.158.040(2).
    StateRule("WA", "Washington State", EIGHT_TO_EIGHT, _codes("206 253 360 425 509 564")),
)

# phonenumbers (9.0.43) puts these area codes in the wrong zone. 689 overlays 407 (Orange,
# Osceola, Seminole: Eastern), Florida PSC, 2018-07-10; phonenumbers says Central. 448 overlays
# 850, the panhandle from Pensacola (Central) to Tallahassee (Eastern), Florida PSC,
# 2019-11-05; phonenumbers says Eastern only, which would ring Pensacola at 7 a.m.
_AREA_CODE_ZONES = {
    "689": ("America/New_York",),
    "448": ("America/Chicago", "America/New_York"),
}


def lead_zones(phone_e164: str) -> list[ZoneInfo]:
    """The zones the lead may be in, by its number (see `_zone_names`). Empty when nothing
    places the number (an international freephone +800): such a lead is never in its window."""
    return [ZoneInfo(name) for name in _zone_names(phone_e164)]


# A number's zones and state rule, looked up once per place rather than once per number (every
# lead has a new number, and asking phonenumbers costs a parse and a dozen regular expressions).
# Each depends only on the number's kind (calling code, region, type: whether phonenumbers
# places it at all), its NANP area code, and the longest prefix of its digits that the time zone
# data, or the geocoding data in English, holds: the lookup phonenumbers itself makes, longest
# prefix first. (A US number the geocoder cannot place is named after its country, which no
# state rule matches.) Bounded: the oldest place goes first.
PLACE_CACHE_SIZE = 4096
_zones_by_place: dict[tuple[object, ...], tuple[str, ...]] = {}
_rules_by_place: dict[tuple[object, ...], Window | None] = {}


def _cached(
    cache: dict[tuple[object, ...], V], key: tuple[object, ...] | None, compute: Callable[[], V]
) -> V:
    """`compute()`, kept under `key`; a None key (a number not in E.164) is not kept."""
    if key is not None and key in cache:
        return cache[key]
    value = compute()
    if key is not None:
        if len(cache) >= PLACE_CACHE_SIZE:
            del cache[next(iter(cache))]
        cache[key] = value
    return value


def _place_key(
    phone_e164: str, holds: Callable[[str], bool], longest: int
) -> tuple[object, ...] | None:
    """The number's kind, area code and the longest prefix of its digits (calling code first)
    that phonenumbers' data `holds`; None for a number not written in E.164."""
    digits = phone_e164[1:]
    if not (phone_e164.startswith("+") and digits.isdigit()):
        return None
    kind = kind_of(phone_e164)
    for length in range(min(longest, len(digits)), 0, -1):
        if holds(digits[:length]):
            return kind, digits[:length], _area_code_of(kind, digits)
    return kind, "", _area_code_of(kind, digits)


def _area_code_of(kind: NumberKind, digits: str) -> str:
    """A NANP number's area code: the three digits after the "1"."""
    return digits[1:4] if kind.country_code == 1 else ""


def _geocoded(prefix: str) -> bool:
    """A prefix the geocoder names in English (it skips one named in other languages only)."""
    return "en" in GEOCODE_DATA.get(prefix, ())


def _zone_names(phone_e164: str) -> tuple[str, ...]:
    return _cached(
        _zones_by_place,
        _place_key(phone_e164, TIMEZONE_DATA.__contains__, TIMEZONE_LONGEST_PREFIX),
        lambda: _zone_names_of(phonenumbers.parse(phone_e164)),
    )


def _zone_names_of(number: PhoneNumber) -> tuple[str, ...]:
    """phonenumbers' zones for the number, less "Etc/Unknown"; corrected where it is wrong.

    In the NANP (+1) a number type that phonenumbers does not tie to a place (a Caribbean or
    Canadian mobile, a VoIP line), or a number it cannot type, gets every zone from Guam to
    St. John's; its area code still says where it was issued, so that area code's zones are
    used. Elsewhere a mobile prefix says nothing of place (an Australian mobile's prefix data
    says Sydney, the number may be in Perth), so the wide list stands.
    """
    if number.country_code != 1:
        return _known(number_zones.time_zones_for_number(number))
    if corrected := _AREA_CODE_ZONES.get(_area_code(number)):
        return corrected
    names = _known(number_zones.time_zones_for_number(number))
    by_area_code = _known(number_zones.time_zones_for_geographical_number(number))
    if len(names) != 1 and by_area_code and (not names or set(by_area_code) < set(names)):
        return by_area_code
    return names


def _known(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(name for name in names if _is_zone(name))


def _is_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _area_code(number: PhoneNumber) -> str:
    return phonenumbers.national_significant_number(number)[:3]


def region_rule(phone_e164: str) -> Window | None:
    """The narrowest window the state law allows where the number is: each state rule its
    area code or its geocoded place matches narrows it (either one is enough: a stricter window
    is never the unsafe mistake). None where no rule applies."""
    return _cached(
        _rules_by_place,
        _place_key(phone_e164, _geocoded, GEOCODE_LONGEST_PREFIX),
        lambda: _region_rule_of(phonenumbers.parse(phone_e164)),
    )


def _region_rule_of(number: PhoneNumber) -> Window | None:
    if phonenumbers.region_code_for_number(number) != "US":
        return None
    window: Window | None = None
    for rule in _state_rules(number):
        window = rule.window if window is None else _narrowed(window, rule.window)
    return window


def _state_rules(number: PhoneNumber) -> list[StateRule]:
    area_code = _area_code(number)
    place = geocoder.description_for_number(number, "en")
    return [
        rule
        for rule in STATE_RULES
        if area_code in rule.area_codes or place == rule.name or place.endswith(f", {rule.code}")
    ]


def _narrowed(window: Window, rule: Window) -> Window:
    overlap = window.overlap(rule)
    if overlap is None:
        raise NoOpening(f"the calling window {window} lies outside the legal window {rule}")
    return overlap


def lead_window(phone_e164: str, source: Source, settings: Settings) -> Window:
    """The lead's daily calling window, in its local time.

    The source's own window if it sets one (a bound it leaves NULL is the default's), else the
    default from settings; then narrowed to the region's rule. The rule is law: a source window
    can be stricter than it, never wider, so the result is their intersection. (With the
    default settings, 08:00-21:00, a lead with a region rule simply gets the rule.) Raises
    NoOpening when the window is empty or lies outside the rule.
    """
    try:
        wanted = Window(
            parse_hhmm(source.calling_window_start or settings.calling_window_start),
            parse_hhmm(source.calling_window_end or settings.calling_window_end, end=True),
        )
    except ValueError as exc:
        raise NoOpening(f"source '{source.slug}': {exc}") from exc
    rule = region_rule(phone_e164)
    return wanted if rule is None else _narrowed(wanted, rule)


def shift_of(team: Team | None) -> Shift | None:
    """The team's working hours; None when it keeps none (always on shift)."""
    if team is None or (team.shift_start is None and team.shift_end is None):
        return None
    return Shift(
        zone=parse_zone(team.timezone or "UTC"),
        start=parse_hhmm(team.shift_start) if team.shift_start else MIDNIGHT,
        end=parse_hhmm(team.shift_end, end=True) if team.shift_end else MIDNIGHT,
        # A team never flushed has no server default yet: every day, as the column says.
        days=EVERY_DAY if team.shift_days is None else frozenset(team.shift_days),
    )


def is_open(phone_e164: str, at: datetime, window: Window, shift: Shift | None = None) -> bool:
    """Whether the lead may be called at `at`: inside its window in every zone it may be in
    (see `_honoured_zones` for zones that never agree), and the team on shift."""
    run = _next_run(phone_e164, at, window, shift)
    return run is not None and run[0] == at


def next_opening(
    phone_e164: str, at: datetime, window: Window, shift: Shift | None = None
) -> datetime:
    """The first instant at or after `at` when the lead may be called; NoOpening if none
    comes within SEARCH_DAYS."""
    return _require_run(phone_e164, at, window, shift)[0]


def when_allowed(
    phone_e164: str,
    due: datetime,
    *,
    window: Window,
    shift: Shift | None,
    lead_id: UUID,
    spread_minutes: int,
) -> datetime:
    """When a step due at `due` may run: `due` itself if the lead may be called then; else
    the next opening plus the lead's own offset into the first `spread_minutes`, cut short
    so it stays inside the opening."""
    if shift is None and _inside(phone_e164, due, window):  # the common case, found cheaply
        return due
    start, end = _require_run(phone_e164, due, window, shift)
    if start == due:
        return start
    room = min(spread_minutes * 60, int((end - start).total_seconds()))
    return start + timedelta(seconds=_spread_seconds(lead_id, room))


def _inside(phone_e164: str, at: datetime, window: Window) -> bool:
    """`at` falls inside the window in every zone honoured: the run search would begin at it."""
    zones = _honoured_zones(lead_zones(phone_e164), window, at)
    return bool(zones) and all(window.holds(at.astimezone(zone).time()) for zone in zones)


def _spread_seconds(lead_id: UUID, room: int) -> int:
    """A second in [0, room), the same every time for a lead: re-planning never moves it."""
    if room <= 0:
        return 0
    digest = hashlib.sha256(lead_id.bytes).digest()
    return int.from_bytes(digest[:8], "big") % room


def _require_run(phone_e164: str, at: datetime, window: Window, shift: Shift | None) -> Run:
    run = _next_run(phone_e164, at, window, shift)
    if run is None:
        raise NoOpening(
            f"{phone_e164} cannot be called within {SEARCH_DAYS} days of {at:%Y-%m-%d %H:%M} UTC"
            f" (window {window}{'' if shift is None else ', with the team shift'})"
        )
    return run


def _next_run(phone_e164: str, at: datetime, window: Window, shift: Shift | None) -> Run | None:
    """The first run of calling time ending after `at`, clipped to start no earlier."""
    if at.tzinfo is None:
        raise ValueError("a naive datetime: pass an aware one (UTC)")
    at = at.astimezone(UTC)
    horizon = at + timedelta(days=SEARCH_DAYS)
    for start, end in _open_runs(phone_e164, at, window, shift):
        if start >= horizon:
            break
        if end > at:
            return max(start, at), end
    return None


def _open_runs(phone_e164: str, at: datetime, window: Window, shift: Shift | None) -> list[Run]:
    """The runs around the search span when the window holds in every zone the lead may be in
    and the team is on shift, sorted, touching runs joined."""
    zones = _honoured_zones(lead_zones(phone_e164), window, at)
    if not zones:
        return []
    constraints = [_daily_runs(zone, window.start, window.end, EVERY_DAY, at) for zone in zones]
    if shift is not None:
        constraints.append(_daily_runs(shift.zone, shift.start, shift.end, shift.days, at))
    common = constraints[0]
    for runs in constraints[1:]:
        common = _intersect(common, runs)
    return _joined(common)


def _honoured_zones(zones: Sequence[ZoneInfo], window: Window, at: datetime) -> list[ZoneInfo]:
    """All the lead's zones when the window can hold in all of them at once; else the largest
    group of them that it can.

    The window holds in every zone at some instant when their UTC offsets, on a 24-hour clock
    face, fit in an arc shorter than the window: +1 800 lists 42 zones from Guam to St. John's,
    which fit in 11.5 hours across the date line, so an 08:00-21:00 window still opens in all
    of them every day. A number whose zones fit in no such arc would never be called; the
    largest group that fits is honoured instead, dropping the fewest zones.
    """
    ordered = sorted(zones, key=lambda zone: _offset(zone, at))
    offsets = [_offset(zone, at) for zone in ordered]
    # The same zones once more a day later, so that a group may wrap past the date line.
    around = offsets + [offset + timedelta(days=1) for offset in offsets]
    best = (0, 0)
    first = 0
    for last in range(len(around)):
        while around[last] - around[first] >= window.length or last - first >= len(ordered):
            first += 1
        if last + 1 - first > best[1] - best[0]:
            best = (first, last + 1)
    return [ordered[index % len(ordered)] for index in range(*best)]


def _offset(zone: ZoneInfo, at: datetime) -> timedelta:
    return at.astimezone(zone).utcoffset() or timedelta(0)


def _daily_runs(
    zone: ZoneInfo, start: time, end: time, days: frozenset[int], at: datetime
) -> list[Run]:
    """[start, end) of local time in `zone` on each of `days`, in UTC, from the day before
    `at` (whose run may still be going) to past the search horizon. An end not after the
    start falls on the next day."""
    first = at.astimezone(zone).date() - timedelta(days=1)
    overnight = _seconds(end) <= _seconds(start)
    runs = []
    for day in (first + timedelta(days=n) for n in range(SEARCH_DAYS + 2)):
        if day.isoweekday() in days:
            end_day = day + timedelta(days=1) if overnight else day
            runs.append((_instant(day, start, zone), _instant(end_day, end, zone)))
    return runs


def _instant(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time. A time the spring change skips (02:30)
    lands after it (03:30); a time the autumn change repeats is its first occurrence."""
    return datetime.combine(day, clock, tzinfo=zone).astimezone(UTC)


def _intersect(left: list[Run], right: list[Run]) -> list[Run]:
    overlaps = ((max(a[0], b[0]), min(a[1], b[1])) for a in left for b in right)
    return sorted(run for run in overlaps if run[0] < run[1])


def _joined(runs: list[Run]) -> list[Run]:
    """Sorted runs with touching or overlapping ones merged, so a run's end is when calling
    time really ends (a 24-hour window is one run per day, end to end)."""
    joined: list[Run] = []
    for start, end in sorted(runs):
        if joined and start <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(joined[-1][1], end))
        else:
            joined.append((start, end))
    return joined
