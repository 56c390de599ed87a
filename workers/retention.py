"""Retention: raw form payloads are not kept longer than RAW_PAYLOAD_RETENTION_DAYS, and
carrier callbacks arriving after a lead's erasure do not keep its number."""

import logging
from datetime import timedelta
from typing import Any

from app.leads.privacy import PURGE_BATCH, purge_raw_payloads, scrub_late_call_events
from workers.dial import sessions, settings_of

log = logging.getLogger(__name__)


async def purge_old_payloads(ctx: dict[str, Any]) -> int:
    """Empty the form fields of leads past the retention period, a batch per transaction so
    no lock is held long; returns how many leads were purged. Safe to run twice."""
    async with sessions(ctx)() as session, session.begin():
        await scrub_late_call_events(session)
    days = settings_of(ctx).raw_payload_retention_days
    if days == 0:  # kept for good
        return 0
    purged = 0
    while True:
        async with sessions(ctx)() as session, session.begin():
            batch = await purge_raw_payloads(session, older_than=timedelta(days=days))
        purged += batch
        if batch < PURGE_BATCH:
            break
    if purged:
        log.info("emptied the form fields of %d leads older than %d days", purged, days)
    return purged
