"""Message templates: `{first_name}`-style placeholders filled from the lead, its rep and source.

Only the names below are replaced, by plain substitution: a template is integrator input, so it
never reaches `str.format` (which would let `{0.__class__}` read attributes).
"""

import re

from app.models import Lead, Source

PLACEHOLDERS = ("first_name", "last_name", "full_name", "rep_name", "company")
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
FALLBACK_FIRST_NAME = "there"
FALLBACK_REP_NAME = "our team"


def unknown_placeholders(template: str) -> list[str]:
    return [name for name in PLACEHOLDER.findall(template) if name not in PLACEHOLDERS]


def first_name_of(lead: Lead) -> str:
    if lead.first_name:
        return lead.first_name
    if lead.full_name:  # forms that send one name field: its first word is the first name
        return lead.full_name.split()[0]
    return FALLBACK_FIRST_NAME


def company_name(source: Source) -> str:
    """What {company} says, and what texts, emails and pages call the sender."""
    return source.company or source.name


def values_for(lead: Lead, source: Source, rep_name: str | None) -> dict[str, str]:
    full = lead.full_name or " ".join(p for p in (lead.first_name, lead.last_name) if p)
    return {
        "first_name": first_name_of(lead),
        "last_name": lead.last_name or "",
        "full_name": full or FALLBACK_FIRST_NAME,
        "rep_name": rep_name or FALLBACK_REP_NAME,
        "company": company_name(source),
    }


def render(template: str, values: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)
