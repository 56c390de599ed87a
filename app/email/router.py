"""Public unsubscribe pages, reached from every email's footer and List-Unsubscribe header.
No API key: the signed token is the proof. Kept out of the API description, like /twilio."""

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from app.config import get_settings
from app.db import SessionDep
from app.deps import ArqDep
from app.email import pages, unsubscribe
from app.email.links import lead_id_from_token
from app.queue import wake_after_commit

router = APIRouter(prefix="/unsubscribe", tags=["email"], include_in_schema=False)


@router.get("/{token}", response_class=HTMLResponse)
async def confirm_unsubscribe(token: str, session: SessionDep) -> HTMLResponse:
    lead_id = lead_id_from_token(token, get_settings())
    if lead_id is None:
        return pages.invalid_link()
    company = await unsubscribe.unsubscribe_company(session, lead_id=lead_id)
    return pages.invalid_link() if company is None else pages.confirm(company)


@router.post("/{token}", response_class=HTMLResponse)
async def unsubscribe_lead(token: str, session: SessionDep, arq: ArqDep) -> HTMLResponse:
    """The page's button and mail clients' one-click (body "List-Unsubscribe=One-Click", which
    the token makes unnecessary to check)."""
    lead_id = lead_id_from_token(token, get_settings())
    if lead_id is None:
        return pages.invalid_link()
    company = await unsubscribe.unsubscribe(session, lead_id=lead_id)
    if company is None:
        return pages.invalid_link()
    await session.commit()
    await wake_after_commit(arq, session)
    return pages.done(company)
