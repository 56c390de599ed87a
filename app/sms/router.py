"""The carrier's SMS webhooks: delivery receipts for what we sent, and texts people send us.
Signed like every carrier callback (see app.voice.router.carrier_callback)."""

from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import Response
from twilio.twiml.messaging_response import MessagingResponse

from app.config import get_settings
from app.queue import enqueue_message, wake_after_commit
from app.sms import inbound, service
from app.voice.router import CallbackDep, xml

router = APIRouter(prefix="/twilio/sms", tags=["carrier callbacks"], include_in_schema=False)


@router.post("/status", status_code=204)
async def sms_status(message: UUID, call: CallbackDep) -> None:
    await service.record_status(call.session, message_id=message, params=call.params)


@router.post("/inbound")
async def sms_inbound(call: CallbackDep) -> Response:
    """Answered with TwiML: the keyword's reply, or nothing."""
    session = call.session
    received = await inbound.receive_sms(session, params=call.params, settings=get_settings())
    await session.commit()
    if received.forward_id is not None:
        await enqueue_message(call.arq, received.forward_id, "sms")
    await wake_after_commit(call.arq, session)
    reply = MessagingResponse()
    if received.reply:
        reply.message(received.reply)
    return xml(str(reply))
