"""Phone numbers in, E.164 out: the one place phonenumbers is asked what a number is."""

from collections.abc import Collection
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumber, PhoneNumberType

from app.errors import InvalidField

# What a lead's number may be. Premium-rate, shared-cost, personal (follow-me), UAN, pager and
# voicemail numbers cost money or reach no person; toll-free is free to call but is a business
# line, never a lead's own phone, so it is refused too.
DIALABLE_TYPES = {
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE: "fixed_line",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    PhoneNumberType.VOIP: "voip",
}
REFUSED_TYPES = {
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.PERSONAL_NUMBER: "personal_number",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
}


def parse_number(raw: str, *, region: str, field: str) -> PhoneNumber:
    """Parse what a person typed (national or international); 422 naming `field` if invalid."""
    try:
        number = phonenumbers.parse(raw, region.upper())
    except phonenumbers.NumberParseException as exc:
        raise InvalidField(
            f"'{raw}' is not a phone number ({exc._msg})", field=field, code="invalid_phone"
        ) from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidField(
            f"'{raw}' is not a valid phone number for region {region.upper()}",
            field=field,
            code="invalid_phone",
        )
    return number


def to_e164(raw: str, *, region: str, field: str) -> str:
    """Parse what a person typed (national or international) and return it as E.164.

    `field` names the input in the 422 so the caller can fix the right thing.
    """
    return e164(parse_number(raw, region=region, field=field))


def e164(number: PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def to_dialable_e164(
    raw: str, *, region: str, allowed_regions: Collection[str] | None, field: str
) -> str:
    """E.164 of a number FirstRing may call: in an allowed country (None: any) and of a type
    that reaches a person at a normal price. Refusals are 422s that say why."""
    number = parse_number(raw, region=region, field=field)
    kind = kind_of_number(number)
    check_country(raw, kind.region, allowed_regions, field=field)
    check_type(raw, kind.type, field=field)
    phone = e164(number)
    remember_kind(phone, kind)
    return phone


def check_country(
    raw: str, region: str | None, allowed_regions: Collection[str] | None, *, field: str
) -> None:
    if allowed_regions is None:
        return
    # +1 is shared by the US, Canada and the Caribbean: the region, not the code, decides.
    country = region or "unknown"
    if country not in allowed_regions:
        allowed = ", ".join(sorted(allowed_regions))
        raise InvalidField(
            f"'{raw}' is a number in {country}; this source calls only numbers in {allowed}",
            field=field,
            code="country_not_allowed",
        )


def check_type(raw: str, kind: int, *, field: str) -> None:
    if kind in DIALABLE_TYPES:
        return
    name = REFUSED_TYPES.get(kind, "unknown")
    raise InvalidField(
        f"'{raw}' is a number of type {name}; FirstRing calls only mobile, fixed-line "
        "and VoIP numbers",
        field=field,
        code="number_type_not_allowed",
    )


@dataclass(frozen=True)
class NumberKind:
    """What phonenumbers' pattern matching says of a number, the costly part of asking it
    anything (a parse, then a dozen regular expressions): its calling code, its region (None
    when no region's patterns fit it) and its PhoneNumberType."""

    country_code: int | None
    region: str | None
    type: int


# The kinds of the numbers this process looked at last. The intake checks a number and looks
# up its calling hours right after: the second asks phonenumbers nothing. A cache only: any
# process works it out again from the number.
KNOWN_KINDS_SIZE = 4096
_known_kinds: dict[str, NumberKind] = {}


def remember_kind(phone_e164: str, kind: NumberKind) -> None:
    if len(_known_kinds) >= KNOWN_KINDS_SIZE:
        del _known_kinds[next(iter(_known_kinds))]  # the oldest
    _known_kinds[phone_e164] = kind


def kind_of(phone_e164: str) -> NumberKind:
    """The kind of an E.164 number (any number phonenumbers can parse: valid or not)."""
    kind = _known_kinds.get(phone_e164)
    if kind is None:
        kind = kind_of_number(phonenumbers.parse(phone_e164))
        remember_kind(phone_e164, kind)
    return kind


def kind_of_number(number: PhoneNumber) -> NumberKind:
    region = phonenumbers.region_code_for_number(number)
    return NumberKind(number.country_code, region, phonenumbers.number_type(number))


def is_known_region(region: str) -> bool:
    return region.upper() in phonenumbers.SUPPORTED_REGIONS
