"""Texts from people to our numbers: Twilio's incoming-message webhook and the TwiML reply.

A number's `sms_url` plays the part of an IncomingPhoneNumber's SmsUrl: a text to that number is
posted there, signed, with Twilio's parameters, and each `<Message>` in the answer is sent back
as an outbound message (direction `outbound-reply`), queued, sent and delivered like any other.
"""

from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sandbox import errors
from sandbox.callbacks import WebhookResult, delivery_log
from sandbox.messages import send_message
from sandbox.numbers import NumberConfig
from sandbox.records import API_VERSION, MessageRecord
from sandbox.rules import is_phone_number
from sandbox.state import Sandbox
from sandbox.twiml import TwimlError, response_root


class IncomingText(BaseModel):
    """What a person texts: `POST /_sandbox/sms {"from", "to", "body"}`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str = Field(alias="from")
    to: str
    body: str = Field(default="", max_length=1600)  # Twilio's limit for one message

    @field_validator("from_", "to")
    @classmethod
    def e164(cls, value: str) -> str:
        if not is_phone_number(value):
            raise ValueError(f"{value} is not an E.164 number")
        return value


@dataclass(frozen=True)
class ReplyText:
    body: str
    to: str | None
    from_: str | None
    status_callback: str | None


async def receive_text(
    sandbox: Sandbox, text: IncomingText, number: NumberConfig
) -> dict[str, Any]:
    """Deliver the text to the number's SmsUrl and send the replies its TwiML asks for."""
    record = MessageRecord(
        account_sid=sandbox.account_sid,
        to=text.to,
        from_=text.from_,
        body=text.body,
        params={},
        direction="inbound",
    )
    record.set_status("received")
    sandbox.messages[record.sid] = record
    params = webhook_params(record)
    result = await sandbox.webhooks.send(number.sms_url, number.sms_method, params)
    record.callbacks.append(
        delivery_log("incoming", number.sms_url, number.sms_method, params, result)
    )
    try:
        replies = reply_texts(result)
    except ReplyError as exc:
        record.errors.append({"code": exc.code, "message": str(exc), "url": number.sms_url})
        replies = []
    sent = [send_reply(sandbox, record, reply) for reply in replies]
    return {
        "sid": record.sid,
        "status_code": result.status_code,
        "content_type": result.content_type,
        "body": result.text,
        "errors": record.errors,
        "replies": [message.to_log() for message in sent],
    }


def webhook_params(record: MessageRecord) -> dict[str, str]:
    """The parameters Twilio posts for an incoming SMS (without the geographic guesses)."""
    return {
        "MessageSid": record.sid,
        "SmsSid": record.sid,
        "SmsMessageSid": record.sid,
        "AccountSid": record.account_sid,
        "From": record.from_ or "",
        "To": record.to,
        "Body": record.body,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": API_VERSION,
    }


def send_reply(sandbox: Sandbox, incoming: MessageRecord, reply: ReplyText) -> MessageRecord:
    """A <Message> goes back to the sender from the number texted, unless it says otherwise."""
    params: dict[str, Any] = {
        "To": reply.to or incoming.from_,
        "From": reply.from_ or incoming.to,
        "Body": reply.body,
    }
    if reply.status_callback:
        params["StatusCallback"] = reply.status_callback
    return send_message(sandbox, params, direction="outbound-reply")


class ReplyError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def reply_texts(result: WebhookResult) -> list[ReplyText]:
    """The replies in the product's answer; an empty answer is no reply at all."""
    if result.error is not None:
        raise ReplyError(errors.HTTP_CONNECTION_FAILURE, f"HTTP connection failure: {result.error}")
    if not result.ok:
        message = f"HTTP retrieval failure: status {result.status_code}"
        raise ReplyError(errors.HTTP_RETRIEVAL_FAILURE, message)
    if not result.text.strip():
        return []
    if "xml" not in result.content_type and "html" not in result.content_type:
        message = f"Invalid Content-Type: {result.content_type or 'none'}"
        raise ReplyError(errors.INVALID_CONTENT_TYPE, message)
    try:
        return parse_messaging(result.text)
    except TwimlError as exc:
        raise ReplyError(errors.DOCUMENT_PARSE_FAILURE, str(exc)) from None


def parse_messaging(document: str) -> list[ReplyText]:
    """Messaging TwiML: <Message> verbs, with the text inline or in a <Body>."""
    return [reply_text(element) for element in response_root(document)]


def reply_text(element: ElementTree.Element) -> ReplyText:
    if element.tag != "Message":
        raise TwimlError(f"<{element.tag}> is not supported in a messaging response")
    body = element.findtext("Body")
    if body is None:
        body = element.text or ""
    if not body.strip():
        raise TwimlError("<Message> has no body")
    return ReplyText(
        body=body.strip(),
        to=element.get("to"),
        from_=element.get("from"),
        status_callback=element.get("statusCallback"),
    )
