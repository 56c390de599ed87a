"""Cadences: the follow-up plans integrators edit, kept in step with the leads following them.

An edit locks the cadence row, replaces its steps, raises its version and has the scheduler
re-plan the pending touches of its leads, all in the request's transaction: a worker firing a
step locks the same rows, so a touch is never fired twice nor lost across an edit.
"""

import re
from collections import defaultdict
from uuid import UUID

from sqlalchemy import delete, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.cadences import scheduler
from app.cadences.schemas import SMS_MAX_CHARS, CadenceIn, CadenceOut, Channel, StepIn, StepOut
from app.cadences.templates import PLACEHOLDERS
from app.errors import Conflict, InvalidField, NotFound
from app.models import Cadence, CadenceStep, Source, new_id

# Anything in single braces reads as a placeholder to whoever writes a template, so a name the
# renderer would leave as is ({FirstName}, {phone}) is refused rather than texted to a lead.
BRACED = re.compile(r"\{([^{}]*)\}")
# Serialises moves of the default flag: two at once would both clear the old default and then
# collide on the unique index.
DEFAULT_FLAG_LOCK = 0x0CADE0DE
NURTURE_FIELDS = (
    "nurture_every_days",
    "nurture_max_touches",
    "nurture_sms_template",
    "nurture_email_subject",
    "nurture_email_template",
)


async def require_cadence(session: AsyncSession, *, cadence_id: UUID, field: str) -> None:
    """For payloads naming a cadence: a 422 on their field, not a 404 on the URL."""
    if not await session.scalar(select(exists().where(Cadence.id == cadence_id))):
        raise InvalidField(f"No cadence {cadence_id}.", field=field)


async def cadence_row(session: AsyncSession, *, cadence_id: UUID, lock: bool = False) -> Cadence:
    query = select(Cadence).where(Cadence.id == cadence_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    cadence = await session.scalar(query)
    if cadence is None:
        raise NotFound(f"No cadence {cadence_id}.", field="cadence_id")
    return cadence


async def steps_of(session: AsyncSession, cadence_ids: list[UUID]) -> dict[UUID, list[StepOut]]:
    rows = await session.scalars(
        select(CadenceStep)
        .where(CadenceStep.cadence_id.in_(cadence_ids))
        .order_by(CadenceStep.delay_minutes, CadenceStep.position)
        .execution_options(populate_existing=True)
    )
    grouped: dict[UUID, list[StepOut]] = defaultdict(list)
    for step in rows:
        grouped[step.cadence_id].append(StepOut.model_validate(step))
    return grouped


def cadence_out(cadence: Cadence, steps: list[StepOut]) -> CadenceOut:
    return CadenceOut.model_validate({**cadence.__dict__, "steps": steps})


async def list_cadences(session: AsyncSession) -> list[CadenceOut]:
    cadences = list(
        await session.scalars(
            select(Cadence).order_by(Cadence.is_default.desc(), Cadence.name, Cadence.id)
        )
    )
    steps = await steps_of(session, [cadence.id for cadence in cadences]) if cadences else {}
    return [cadence_out(cadence, steps.get(cadence.id, [])) for cadence in cadences]


async def get_cadence(session: AsyncSession, *, cadence_id: UUID) -> CadenceOut:
    cadence = await cadence_row(session, cadence_id=cadence_id)
    steps = await steps_of(session, [cadence.id])
    return cadence_out(cadence, steps.get(cadence.id, []))


def check_template(text: str, *, field: str) -> None:
    unknown = [name for name in BRACED.findall(text) if name not in PLACEHOLDERS]
    if unknown:
        allowed = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
        raise InvalidField(
            f"Unknown placeholder {{{unknown[0]}}}; a template may use {allowed}.",
            field=field,
            code="unknown_placeholder",
        )


def check_step(step: StepIn, *, path: str) -> None:
    """What pydantic cannot say per field: which channel needs which text."""
    if step.channel == Channel.call:
        for name in ("template", "subject"):
            if getattr(step, name) is not None:
                raise InvalidField(f"A call step has no {name}.", field=f"{path}.{name}")
        return
    if not (step.template or "").strip():
        raise InvalidField(f"A {step.channel} step needs a template.", field=f"{path}.template")
    check_template(step.template or "", field=f"{path}.template")
    if step.channel == Channel.sms:
        check_sms_length(step.template or "", field=f"{path}.template")
        if step.subject is not None:
            raise InvalidField("An sms step has no subject.", field=f"{path}.subject")
    elif not (step.subject or "").strip():
        raise InvalidField("An email step needs a subject.", field=f"{path}.subject")
    else:
        check_template(step.subject or "", field=f"{path}.subject")


def check_sms_length(text: str, *, field: str) -> None:
    if len(text) > SMS_MAX_CHARS:
        raise InvalidField(
            f"An SMS is at most {SMS_MAX_CHARS} characters; this one has {len(text)}.",
            field=field,
            code="sms_too_long",
        )


def check_nurture(data: CadenceIn) -> None:
    for name in ("nurture_sms_template", "nurture_email_subject", "nurture_email_template"):
        text = getattr(data, name)
        if text is not None:
            check_template(text, field=name)
    if data.nurture_sms_template is not None:
        check_sms_length(data.nurture_sms_template, field="nurture_sms_template")
    subject, body = data.nurture_email_subject, data.nurture_email_template
    if (subject is None) != (body is None):
        missing = "nurture_email_subject" if subject is None else "nurture_email_template"
        raise InvalidField("A nurture email needs both a subject and a template.", field=missing)


def check_cadence(data: CadenceIn) -> None:
    for index, step in enumerate(data.steps):
        check_step(step, path=f"steps.{index}")
    check_distinct_delays(data.steps)
    check_nurture(data)


def check_distinct_delays(steps: list[StepIn]) -> None:
    """A lead's place in its cadence is the delay of the last step it got (see scheduler), so
    two steps at the same minute would be one step too many: each needs its own minute."""
    seen: dict[int, int] = {}
    for index, step in enumerate(steps):
        if step.delay_minutes in seen:
            raise InvalidField(
                f"Step {seen[step.delay_minutes]} already runs at minute {step.delay_minutes}; "
                "give each step its own minute.",
                field=f"steps.{index}.delay_minutes",
                code="duplicate_delay",
            )
        seen[step.delay_minutes] = index


def check_step_ids(steps: list[StepIn], *, existing: set[UUID]) -> None:
    """A sent id must be one of this cadence's steps, sent once: it says which step this is."""
    seen: set[UUID] = set()
    for index, step in enumerate(steps):
        if step.id is None:
            continue
        if step.id not in existing:
            raise InvalidField(
                f"{step.id} is not a step of this cadence; leave id out for a new step.",
                field=f"steps.{index}.id",
            )
        if step.id in seen:
            raise InvalidField(f"Step {step.id} is sent twice.", field=f"steps.{index}.id")
        seen.add(step.id)


async def write_steps(
    session: AsyncSession, *, cadence_id: UUID, steps: list[StepIn], keep_ids: bool
) -> None:
    """Replace the cadence's steps, positions following delay.

    Delete and insert rather than update in place: positions are unique per cadence, so moving
    kept steps one by one would collide halfway."""
    await session.execute(delete(CadenceStep).where(CadenceStep.cadence_id == cadence_id))
    ordered = sorted(steps, key=lambda step: step.delay_minutes)
    rows = [
        {
            "id": step.id if keep_ids and step.id is not None else new_id(),
            "cadence_id": cadence_id,
            "position": position,
            **step.model_dump(mode="json", exclude={"id"}),
        }
        for position, step in enumerate(ordered)
    ]
    await session.execute(insert(CadenceStep), rows)


async def take_default_flag(session: AsyncSession, *, cadence_id: UUID) -> None:
    """Clear the previous default; the caller then flags its cadence, in the same transaction."""
    await session.execute(select(func.pg_advisory_xact_lock(DEFAULT_FLAG_LOCK)))
    await session.execute(
        update(Cadence)
        .where(Cadence.is_default, Cadence.id != cadence_id)
        .values(is_default=False)
        .execution_options(synchronize_session="fetch")
    )


def apply_fields(cadence: Cadence, data: CadenceIn) -> None:
    cadence.name, cadence.description = data.name, data.description
    for name in NURTURE_FIELDS:
        setattr(cadence, name, getattr(data, name))


async def create_cadence(session: AsyncSession, *, data: CadenceIn) -> CadenceOut:
    check_cadence(data)
    cadence = Cadence(id=new_id(), is_default=bool(data.is_default))
    apply_fields(cadence, data)
    if cadence.is_default:
        await take_default_flag(session, cadence_id=cadence.id)
    session.add(cadence)
    await session.flush()
    await write_steps(session, cadence_id=cadence.id, steps=data.steps, keep_ids=False)
    await session.refresh(cadence)
    return await get_cadence(session, cadence_id=cadence.id)


async def replace_cadence(
    session: AsyncSession, *, cadence_id: UUID, data: CadenceIn
) -> CadenceOut:
    """Replace everything but the id; leads following it are re-planned before the commit."""
    check_cadence(data)
    cadence = await cadence_row(session, cadence_id=cadence_id, lock=True)
    existing = set(
        await session.scalars(select(CadenceStep.id).where(CadenceStep.cadence_id == cadence_id))
    )
    check_step_ids(data.steps, existing=existing)
    if data.is_default is False and cadence.is_default:
        raise Conflict(
            "This is the default cadence; make another cadence the default instead.",
            field="is_default",
        )
    if data.is_default and not cadence.is_default:
        await take_default_flag(session, cadence_id=cadence.id)
        cadence.is_default = True
    apply_fields(cadence, data)
    cadence.version += 1
    await write_steps(session, cadence_id=cadence.id, steps=data.steps, keep_ids=True)
    await session.flush()
    await scheduler.reschedule_cadence(session, cadence.id)
    await session.refresh(cadence)
    return await get_cadence(session, cadence_id=cadence.id)


async def delete_cadence(session: AsyncSession, *, cadence_id: UUID) -> None:
    """Its sources fall back to the default cadence; the scheduler moves its leads' pending
    touches (they may not simply vanish, nor fire steps that no longer exist)."""
    cadence = await cadence_row(session, cadence_id=cadence_id, lock=True)
    if cadence.is_default:
        raise Conflict(
            "The default cadence cannot be deleted; make another cadence the default first.",
            field="cadence_id",
        )
    # What the foreign key's ON DELETE SET NULL would do, said here so the session sees it too.
    await session.execute(
        update(Source)
        .where(Source.cadence_id == cadence_id)
        .values(cadence_id=None)
        .execution_options(synchronize_session="fetch")
    )
    await session.delete(cadence)
    await session.flush()
    await scheduler.reschedule_cadence(session, cadence_id)
