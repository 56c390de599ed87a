"""The call summary on `leads`, so the speed-to-lead figures never aggregate attempts per lead.

Each column is an aggregate of the lead's attempts, kept by the dialer in the transactions
that change those attempts:

- `first_call_at`, min(create_sent_at): set when the first attempts are opened (create_sent_at
  is the claim time until the call is placed), recomputed when a call is placed
  (app/calls/dialer.py: open_attempts, record_placed).
- `first_rep_answered_at`, min(rep_answered_at): lowered when a rep's phone answers
  (app/calls/outcomes.py: rep_status, rep_answered).
- `connected_at`, min(lead_answered_at) over the attempts with outcome `connected`: lowered
  when an attempt connects or its lead's answer time arrives after that (dial_result,
  lead_status), recomputed when machine detection makes it a voicemail (correct_to_voicemail).
- `touches`, count(attempts): counted up as attempts are opened (open_attempts).

`REBUILD` computes the same from the attempts, for seeding (tests, bench); the migration that
added the columns backfilled them with it.
"""

from datetime import datetime
from uuid import UUID

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.models import Attempt, Lead

CONNECTED = "connected"

REBUILD = """
UPDATE leads
SET first_call_at = s.first_call_at,
    first_rep_answered_at = s.first_rep_answered_at,
    connected_at = s.connected_at,
    touches = s.touches
FROM (
    SELECT lead_id,
           min(create_sent_at) AS first_call_at,
           min(rep_answered_at) AS first_rep_answered_at,
           min(lead_answered_at) FILTER (WHERE outcome = 'connected') AS connected_at,
           count(*) AS touches
    FROM attempts
    GROUP BY lead_id
) s
WHERE leads.id = s.lead_id
"""


async def rebuild(session: AsyncSession) -> None:
    """Every lead's summary from its attempts (leads without attempts keep NULLs and 0)."""
    await session.execute(text(REBUILD))


async def first_rep_answer(session: AsyncSession, attempt: Attempt) -> None:
    """The attempt's rep answered: lower the lead's first_rep_answered_at to that time."""
    if attempt.rep_answered_at is not None:
        await lower(session, attempt.lead_id, Lead.first_rep_answered_at, attempt.rep_answered_at)


async def first_connection(session: AsyncSession, attempt: Attempt) -> None:
    """The attempt connected (or its lead's answer time arrived after it did)."""
    if attempt.outcome == CONNECTED and attempt.lead_answered_at is not None:
        await lower(session, attempt.lead_id, Lead.connected_at, attempt.lead_answered_at)


async def lower(
    session: AsyncSession,
    lead_id: UUID,
    column: InstrumentedAttribute[datetime | None],
    at: datetime,
) -> None:
    """A min() kept by lowering only: it commutes with concurrent updates, and the condition
    locks the lead's row only when the time moves (once per lead, usually)."""
    await session.execute(
        update(Lead)
        .where(Lead.id == lead_id, or_(column.is_(None), column > at))
        .values({column: at})
    )


async def recompute_first_call(session: AsyncSession, lead_id: UUID) -> None:
    """A placed call moved its attempt's create_sent_at from the claim to the send.

    Lock the lead first: the recomputing statement then reads every attempt committed before
    it, so two calls of one ring group placed at once cannot each miss the other's time.
    """
    await session.execute(select(Lead.id).where(Lead.id == lead_id).with_for_update())
    first = select(func.min(Attempt.create_sent_at)).where(Attempt.lead_id == lead_id)
    await session.execute(
        update(Lead).where(Lead.id == lead_id).values(first_call_at=first.scalar_subquery())
    )


async def recompute_connected_at(session: AsyncSession, lead: Lead) -> None:
    """An attempt is no longer connected; `lead` must be locked (see recompute_first_call)."""
    lead.connected_at = await session.scalar(
        select(func.min(Attempt.lead_answered_at)).where(
            Attempt.lead_id == lead.id, Attempt.outcome == CONNECTED
        )
    )
