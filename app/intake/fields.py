"""Find the lead's phone, name and email in a form webhook, whatever tool sent it.

Every form tool nests its answers differently, so a payload is first flattened into fields
(label -> text) in the order they came, each marked as the person's answer or as the tool's
envelope (form name, ids, timestamps). The contact fields are then picked, in this order, by the
source's `field_map`, by the type the tool declared (Typeform `phone_number`, Tally
`INPUT_PHONE_NUMBER`, Elementor `tel`...), by the field's name, by words in its label, and for
the email by the value's shape. Envelope fields are kept but never picked by detection: Webflow's
`payload.name` is the form's name, not the person's.

The flattening lives in `app.intake.flatten`, the picking in `app.intake.detect`. A source's
`field_map` wins over detection. `full_name` is the full-name field when there is one, else
"first last". A full name is not split: guessing where a surname starts is not our job.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.intake.detect import pick, pick_email, roles_wanted
from app.intake.flatten import MAX_FIELDS, flatten, with_country_code

__all__ = ["MAX_FIELDS", "FormFields", "extract_form_fields"]


@dataclass(frozen=True)
class FormFields:
    phone: str | None  # exactly what the person typed, stripped
    phone_field: str | None  # the field name it came from, for error messages
    first_name: str | None
    last_name: str | None
    full_name: str | None  # the full-name field when given, else "first last"
    email: str | None
    fields: dict[str, str]  # every field found: label/name -> text (lists joined with ", ")


def extract_form_fields(payload: Any, field_map: Mapping[str, str] | None = None) -> FormFields:
    """Flatten a parsed form payload and pick out the lead's contact fields.

    `field_map` maps "phone", "email", "first_name", "last_name", "name" (or "country_code") to
    the payload's field, by flattened key or label; a mapped field wins over detection.
    """
    found = flatten(payload)
    wanted = roles_wanted(field_map)
    phone, phone_field = pick(found, wanted, "phone")
    country_code, _ = pick(found, wanted, "country_code")
    first_name, _ = pick(found, wanted, "first_name")
    last_name, _ = pick(found, wanted, "last_name")
    full_name, _ = pick(found, wanted, "name")
    return FormFields(
        phone=with_country_code(phone, country_code),
        phone_field=phone_field,
        first_name=first_name,
        last_name=last_name,
        full_name=full_name or " ".join(p for p in (first_name, last_name) if p) or None,
        email=pick_email(found, wanted),
        fields={field.name: field.value for field in found},
    )
