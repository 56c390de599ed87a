"""`firstring dev`: texts to our numbers in the carrier sandbox reach the inbound SMS route, as
a Twilio number's "A message comes in" webhook would send them."""

import asyncio
import logging

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.config import Settings
from app.db import make_engine
from app.models import Source

log = logging.getLogger(__name__)


async def our_numbers(settings: Settings) -> set[str]:
    """CALLER_ID and every number a source calls or texts from."""
    engine = make_engine(settings.database_url, pool_size=1)
    async with async_sessionmaker(engine)() as session:
        rows = await session.execute(select(Source.sms_from, Source.caller_id))
        numbers = {number for row in rows for number in row if number}
    await engine.dispose()
    return numbers | {settings.caller_id}


def route_sandbox_sms(settings: Settings) -> None:
    """Numbers a source gets later are routed by `PUT /_sandbox/numbers/{number}` (or a restart)."""
    url = f"{settings.public_base_url.rstrip('/')}/twilio/sms/inbound"
    for number in sorted(asyncio.run(our_numbers(settings))):
        response = httpx.put(
            f"{settings.sandbox_url}/_sandbox/numbers/{number}", json={"sms_url": url}
        )
        if response.is_error:  # a malformed number stored on a source must not stop `make run`
            log.warning("texts to %s are not routed: %s", number, response.text)
