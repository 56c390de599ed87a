"""Phone numbers in, E.164 out: the one place phonenumbers is asked what a number is."""

import phonenumbers

from app.errors import InvalidField


def to_e164(raw: str, *, region: str, field: str) -> str:
    """Parse what a person typed (national or international) and return it as E.164.

    `field` names the input in the 422 so the caller can fix the right thing.
    """
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
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_known_region(region: str) -> bool:
    return region.upper() in phonenumbers.SUPPORTED_REGIONS
