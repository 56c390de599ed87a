"""The calling-hours lookups are kept per place, not per number: a number must get exactly
the answer phonenumbers gives for it, whichever number of the same place was looked up first."""

from collections.abc import Iterator
from zoneinfo import ZoneInfo, available_timezones

import phonenumbers
import pytest
from phonenumbers import PhoneNumberType

from app.cadences import windows
from app.phones import kind_of, to_dialable_e164

# Every NANP area code with a few exchanges and lines (unassigned ones too), and an example
# number of every type for every region phonenumbers knows.
NANP = [
    f"+1{area}{exchange}{line}"
    for area in range(201, 990)
    for exchange, line in (("200", "0001"), ("555", "0199"), ("730", "4567"))
]
TYPES = [value for name, value in vars(PhoneNumberType).items() if name.isupper()]
EXAMPLES = sorted(
    {
        phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
        for region in phonenumbers.SUPPORTED_REGIONS
        for kind in TYPES
        if (example := phonenumbers.example_number_for_type(region, kind)) is not None
    }
)


@pytest.fixture(autouse=True)
def empty_caches() -> Iterator[None]:
    # Held, so that zoneinfo's own cache keeps them: the lookups check every zone they name.
    zones = [ZoneInfo(name) for name in available_timezones()]
    windows._zones_by_place.clear()
    windows._rules_by_place.clear()
    yield
    del zones


@pytest.mark.parametrize("numbers", [NANP, EXAMPLES], ids=["nanp", "examples"])
def test_a_number_gets_the_answer_phonenumbers_gives_for_it(numbers: list[str]) -> None:
    # Computed each number's own way first, then through the caches filled as they go.
    expected = [
        (windows._zone_names_of(number), windows._region_rule_of(number))
        for number in map(phonenumbers.parse, numbers)
    ]
    cached = [(windows._zone_names(phone), windows.region_rule(phone)) for phone in numbers]
    assert cached == expected
    assert len(windows._zones_by_place) < len(numbers)  # numbers did share places


def test_a_number_not_written_in_e164_is_looked_up_but_not_kept() -> None:
    assert windows.region_rule("+1 (305) 555-0123") == windows.EIGHT_TO_EIGHT
    assert windows.lead_zones("+1 (212) 555-0123") == windows.lead_zones("+12125550123")
    assert "+1 (305) 555-0123" not in str(windows._rules_by_place)


def test_the_intake_s_check_tells_the_lookups_the_number_s_kind() -> None:
    phone = to_dialable_e164("(415) 200-0001", region="US", allowed_regions=None, field="phone")
    number = phonenumbers.parse(phone)
    assert kind_of(phone).region == phonenumbers.region_code_for_number(number) == "US"
    assert kind_of(phone).type == phonenumbers.number_type(number)
