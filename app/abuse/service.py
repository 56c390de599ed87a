"""The abuse checks a form submission passes before it may become a lead and a call."""

import hashlib
import logging

from redis.asyncio import Redis

from app.abuse.limits import Counter, Hit, count_hits
from app.abuse.phone_cap import enforce_phone_cap
from app.config import Settings
from app.db import OpenSession
from app.errors import AppError
from app.leads.service import Submission, allowed_regions
from app.models import Source
from app.phones import to_dialable_e164

log = logging.getLogger(__name__)

RATE_WINDOW_SECONDS = 60
PHONE_WINDOW_SECONDS = 24 * 3600
RATE_LIMITED = {"address": "this address", "source": "this source"}


class RateLimited(AppError):
    status_code = 429
    code = "rate_limited"


def honeypot_filled(source: Source, submission: Submission) -> bool:
    """A field people never see (the form hides it) that bots fill in."""
    if not source.honeypot_field:
        return False
    if not (submission.fields or {}).get(source.honeypot_field, "").strip():
        return False
    log.info(
        "honeypot '%s' filled on source %s: nothing stored", source.honeypot_field, source.slug
    )
    return True


def intake_counters(
    settings: Settings, *, slug: str, address: str | None, phone: str
) -> list[Counter]:
    """Per address (when it is limited), per source, then the phone's pre-count."""
    minute, prefix = RATE_WINDOW_SECONDS, "firstring:intake"
    per_source = settings.intake_rate_per_source_per_minute
    source = Counter("source", f"{prefix}:source:{slug}", per_source, minute)
    # Every submission of the phone until it has been quiet a day: never fewer than its leads
    # of the last 24 hours, so PostgreSQL is only asked once this passes the cap.
    phone_key = f"{prefix}:phone:{hashlib.sha256(phone.encode()).hexdigest()}"
    day = Counter("phone", phone_key, settings.phone_leads_per_day, PHONE_WINDOW_SECONDS, True)
    if address is None:
        return [source, day]
    per_address = settings.intake_rate_per_ip_per_minute
    return [Counter("address", f"{prefix}:address:{address}", per_address, minute), source, day]


def refuse_if_limited(hits: list[Hit]) -> None:
    for hit in hits:
        if hit.over and hit.counter.name in RATE_LIMITED:
            raise RateLimited(
                f"Too many submissions from {RATE_LIMITED[hit.counter.name]}: at most "
                f"{hit.counter.limit} a minute. Retry in {hit.retry_after} s.",
                headers={"Retry-After": str(hit.retry_after)},
            )


def phone_under_cap(hits: list[Hit] | None) -> bool:
    """True when the Redis pre-count proves the phone under its cap (None: Redis is down)."""
    return hits is not None and any(h.counter.name == "phone" and not h.over for h in hits)


async def admit(
    open_session: OpenSession,
    redis: Redis,
    *,
    source: Source,
    submission: Submission,
    address: str | None,
    settings: Settings,
) -> str | None:
    """Refuse a number FirstRing must not call (422), a flood (429 `rate_limited`) or a phone
    over its daily cap (429 `phone_cap`). A missing phone is left to accept_lead's 422.

    Returns the number admitted, in E.164 (None when there is none). A session is opened only
    when Redis cannot prove the phone under its cap."""
    if not submission.phone_raw:
        return None
    phone = to_dialable_e164(
        submission.phone_raw,
        region=source.default_region,
        allowed_regions=allowed_regions(source),
        field=submission.phone_field,
    )
    counters = intake_counters(settings, slug=source.slug, address=address, phone=phone)
    hits = await count_hits(redis, counters)
    if hits is not None:
        refuse_if_limited(hits)
    if phone_under_cap(hits):
        return phone
    await enforce_phone_cap(
        await open_session(),
        phone=phone,
        source_id=source.id,
        idempotency_key=submission.idempotency_key,
        cap=settings.phone_leads_per_day,
        field=submission.phone_field,
    )
    return phone
