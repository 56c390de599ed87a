"""Simulated SMS: queued on create, then sent and delivered (or as the phone is scripted)."""

from typing import Any

from sandbox.records import API_VERSION, MessageRecord, now
from sandbox.state import Sandbox

SEND_AFTER_S = 0.5
DELIVER_AFTER_S = 1.0
ERROR_CODES = {"undelivered": 30003, "failed": 30008}


def send_message(
    sandbox: Sandbox, params: dict[str, Any], direction: str = "outbound-api"
) -> MessageRecord:
    record = MessageRecord(
        account_sid=sandbox.account_sid,
        to=params["To"],
        from_=params.get("From"),
        body=params.get("Body", ""),
        params=params,
        direction=direction,
    )
    record.set_status("queued")
    sandbox.messages[record.sid] = record
    sandbox.spawn(deliver(sandbox, record))
    return record


async def deliver(sandbox: Sandbox, record: MessageRecord) -> None:
    outcome = sandbox.phones.script(record.to).sms
    await sandbox.sleep(SEND_AFTER_S)
    if outcome == "failed":
        await report(sandbox, record, "failed")
        return
    record.date_sent = now()
    await report(sandbox, record, "sent")
    await sandbox.sleep(DELIVER_AFTER_S)
    await report(sandbox, record, outcome)


async def report(sandbox: Sandbox, record: MessageRecord, status: str) -> None:
    record.set_status(status)
    record.error_code = ERROR_CODES.get(status)
    url = record.params.get("StatusCallback")
    if not url:
        return
    params = {
        "MessageSid": record.sid,
        "SmsSid": record.sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "AccountSid": record.account_sid,
        "To": record.to,
        "From": record.from_ or "",
        "ApiVersion": API_VERSION,
    }
    if record.error_code:
        params["ErrorCode"] = str(record.error_code)
    record.callbacks.extend(await sandbox.send_callback("status", url, "POST", params))
