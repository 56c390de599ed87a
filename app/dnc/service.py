"""The do-not-call list: numbers that are never dialed, whoever asks."""

import csv
import io

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.dnc.schemas import DncImportResult
from app.errors import AppError, InvalidField, NotFound
from app.models import DoNotCall
from app.phones import to_e164

MAX_IMPORT_ROWS = 50_000


async def is_do_not_call(session: AsyncSession, *, phone: str) -> bool:
    return await session.get(DoNotCall, phone) is not None


async def add(
    session: AsyncSession, *, phone: str, reason: str | None, added_by: str = "api"
) -> bool:
    """List a number (already E.164); False if it was listed already."""
    added = await session.scalar(
        insert(DoNotCall)
        .values(phone=phone, reason=reason, added_by=added_by)
        .on_conflict_do_nothing()
        .returning(DoNotCall.phone)
    )
    return added is not None


async def get(session: AsyncSession, *, phone: str) -> DoNotCall:
    entry = await session.get(DoNotCall, phone)
    if entry is None:
        raise NotFound(f"{phone} is not on the do-not-call list.", field="phone")
    return entry


async def remove(session: AsyncSession, *, phone: str) -> None:
    removed = await session.scalar(
        delete(DoNotCall).where(DoNotCall.phone == phone).returning(DoNotCall.phone)
    )
    if removed is None:
        raise NotFound(f"{phone} is not on the do-not-call list.", field="phone")


async def page(session: AsyncSession, *, limit: int, after: str | None) -> list[DoNotCall]:
    query = select(DoNotCall).order_by(DoNotCall.phone).limit(limit)
    if after:
        query = query.where(DoNotCall.phone > after)
    return list(await session.scalars(query))


def csv_rows(text: str) -> list[list[str]]:
    try:  # newline="": csv itself splits lines, so a bare CR ends a line instead of failing
        reader = csv.reader(io.StringIO(text, newline=""))
        rows = [row for row in reader if row and any(c.strip() for c in row)]
    except csv.Error as exc:  # e.g. a field over csv.field_size_limit()
        raise AppError(f"The CSV does not parse: {exc}", code="malformed_body") from exc
    if len(rows) > MAX_IMPORT_ROWS:
        raise AppError(
            f"At most {MAX_IMPORT_ROWS} rows per import.", status_code=413, code="payload_too_large"
        )
    if rows and rows[0][0].strip().lower() in ("phone", "number", "phone_number"):
        rows = rows[1:]  # a header line
    return rows


async def import_csv(session: AsyncSession, *, text: str, region: str) -> DncImportResult:
    """One number per line (first column), an optional reason in the second."""
    added = already = 0
    rejected: list[dict[str, str]] = []
    for line, row in enumerate(csv_rows(text), start=1):
        raw = row[0].strip()
        try:
            phone = to_e164(raw, region=region, field="phone")
        except InvalidField as exc:
            rejected.append({"line": str(line), "value": raw, "reason": exc.message})
            continue
        reason = row[1].strip() if len(row) > 1 and row[1].strip() else None
        if await add(session, phone=phone, reason=reason, added_by="import"):
            added += 1
        else:
            already += 1
    return DncImportResult(added=added, already_listed=already, rejected=rejected)
