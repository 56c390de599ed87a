"""Pick the lead's phone, name and email out of flattened fields.

In this order: the source's `field_map`, the type the tool declared (Typeform `phone_number`, Tally
`INPUT_PHONE_NUMBER`, Elementor `tel`...), the field's name, words in its label, and for the email
the value's shape. Envelope fields are never picked: Webflow's `payload.name` is the form's name,
not the person's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache

from app.intake.flatten import ENVELOPE, PHONE_NAME, Field, dial_code, squash

PHONE_KINDS = frozenset({"phone_number", "input_phone_number", "phone", "tel", "phonenumber"})
PHONE_WORDS = frozenset({"phone", "mobile", "cell", "cellphone", "telephone", "tel", "whatsapp"})
# Words that make a phone or email label about the number, not the number itself.
NOT_THE_VALUE = frozenset(
    {"consent", "verified", "verify", "verification", "country", "type", "opt", "optin", "agree"}
    | {"permission", "allow", "confirm", "code", "prefix", "ext", "extension", "carrier", "can"}
    | {"may", "subscribe", "newsletter", "marketing"}
)
EMAIL_NAMES = frozenset({"email", "emailaddress", "mail", "emailid", "workemail", "contactemail"})
EMAIL_KINDS = frozenset({"email", "input_email"})
EMAIL_SHAPE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
FIRST_NAMES = frozenset({"firstname", "fname", "givenname", "first", "forename", "namefirst"})
LAST_NAMES = frozenset({"lastname", "lname", "surname", "familyname", "last", "namelast"})
FULL_NAMES = frozenset(
    {"name", "fullname", "contactname", "customername", "clientname", "leadname"}
    | {"namefirstandlast", "firstandlastname"}
)
FULL_NAME_KINDS = frozenset({"name", "fullname", "full_name"})
FULL_NAME_WORDS = frozenset(
    {"name", "full", "your", "what", "whats", "is", "s", "please", "enter", "first", "last", "and"}
)
COUNTRY_CODE_NAMES = frozenset(
    {"countrycode", "phonecountrycode", "dialcode", "dialingcode", "callingcode", "phonecode"}
    | {"phoneprefix", "countrydialcode", "countrycallingcode", "phonecountry", "isdcode"}
)
ROLES = {"full_name": "name"} | {
    role: role for role in ("phone", "email", "first_name", "last_name", "name", "country_code")
}


Rank = Callable[[Field], int | None]


def pick(found: list[Field], wanted: dict[str, str], role: str) -> tuple[str | None, str | None]:
    """(value, field name): the mapped field when the source maps this role, else the best match."""
    return _pick_ranked(found, wanted, role, RANKS[role])


def _pick_ranked(
    found: list[Field], wanted: dict[str, str], role: str, rank: Rank
) -> tuple[str | None, str | None]:
    if role in wanted:
        return _lookup(found, wanted[role]), wanted[role]
    best = _best(found, rank)
    return (best.value, best.name) if best else (None, None)


def pick_email(found: list[Field], wanted: dict[str, str]) -> str | None:
    email, _ = _pick_ranked(found, wanted, "email", _email_rank)
    if email or "email" in wanted:
        return email
    by_shape = _best(found, lambda f: 0 if EMAIL_SHAPE.fullmatch(f.value) else None)
    return by_shape.value if by_shape else None


def _best(found: list[Field], rank: Rank) -> Field | None:
    """Answers before extras, surer matches first, then the order the form listed them."""
    best: tuple[int, int, int] | None = None
    for index, field in enumerate(found):
        if field.tier == ENVELOPE or not field.value:
            continue
        strength = rank(field)
        if strength is not None and (best is None or (field.tier, strength, index) < best):
            best = (field.tier, strength, index)
    return None if best is None else found[best[2]]


def _lookup(found: list[Field], wanted: str) -> str | None:
    target = _canonical(wanted)
    for field in found:
        if any(_canonical(name) == target for name in field.aliases):
            return field.value or None
    # A compound field mapped by its parent, e.g. "q4_name" for q4_name[first] and [last].
    parts = [f.value for f in found if f.value and _has_parent(f, target)]
    return " ".join(parts) or None


def _has_parent(field: Field, target: str) -> bool:
    return any(_canonical(name).startswith(target + ".") for name in field.aliases)


def _phone_rank(field: Field) -> int | None:
    if field.kind.casefold() in PHONE_KINDS:
        return 0
    if any(PHONE_NAME.fullmatch(squash(name)) for name in field.aliases):
        return 1
    return 2 if any(_label_means_phone(_words(name)) for name in field.aliases) else None


def _label_means_phone(words: frozenset[str]) -> bool:
    says_phone = bool(words & PHONE_WORDS) or {"contact", "number"} <= words
    return says_phone and not words & NOT_THE_VALUE


def _email_rank(field: Field) -> int | None:
    if field.kind.casefold() in EMAIL_KINDS:
        return 0
    if any(squash(name) in EMAIL_NAMES for name in field.aliases):
        return 1
    words = [_words(name) for name in field.aliases]
    return 2 if any("email" in w and not w & NOT_THE_VALUE for w in words) else None


def _first_name_rank(field: Field) -> int | None:
    if any(squash(name) in FIRST_NAMES for name in field.aliases):
        return 1
    words = [_words(name) for name in field.aliases]
    return 2 if any({"first", "name"} <= w and "last" not in w for w in words) else None


def _last_name_rank(field: Field) -> int | None:
    if any(squash(name) in LAST_NAMES for name in field.aliases):
        return 1
    words = [_words(name) for name in field.aliases]
    said = any(({"last", "name"} <= w and "first" not in w) or "surname" in w for w in words)
    return 2 if said else None


def _full_name_rank(field: Field) -> int | None:
    if field.kind.casefold() in FULL_NAME_KINDS:
        return 0
    if any(squash(name) in FULL_NAMES for name in field.aliases):
        return 1
    words = [_words(name) for name in field.aliases]
    # "First and last name" is a full name; "First name" alone is not.
    said = any(
        "name" in w and w <= FULL_NAME_WORDS and ("first" in w) == ("last" in w) for w in words
    )
    return 2 if said else None


def _country_code_rank(field: Field) -> int | None:
    named = any(squash(name) in COUNTRY_CODE_NAMES for name in field.aliases)
    return 1 if named and dial_code(field.value) else None


RANKS: dict[str, Rank] = {
    "phone": _phone_rank,
    "country_code": _country_code_rank,
    "first_name": _first_name_rank,
    "last_name": _last_name_rank,
    "name": _full_name_rank,
}


def roles_wanted(field_map: Mapping[str, str] | None) -> dict[str, str]:
    wanted: dict[str, str] = {}
    for role, field in (field_map or {}).items():
        canonical_role = ROLES.get(str(role).strip().casefold())
        if canonical_role and isinstance(field, str) and field.strip():
            wanted[canonical_role] = field.strip()
    return wanted


@lru_cache(maxsize=4096)
def _words(name: str) -> frozenset[str]:
    return frozenset(re.findall(r"[a-z0-9]+", name.casefold().replace("e-mail", "email")))


def _canonical(name: str) -> str:
    """How a field_map entry is compared: `fields[phone][value]` equals `fields.phone`."""
    dotted = re.sub(r"\[([^\[\]]*)\]", r".\1", name.strip().casefold()).rstrip(".")
    return dotted.removesuffix(".value")
