"""What the sandbox remembers about calls and messages, and how it shows them."""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

API_VERSION = "2010-04-01"
FINAL_CALL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
# The REST resource has no "initiated"; only status callbacks use it.
REST_CALL_STATUS = {"initiated": "queued"}


def now() -> datetime:
    return datetime.now(UTC)


DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def rfc2822(moment: datetime | None) -> str | None:
    """Twilio's REST date format: 'Tue, 31 Aug 2010 20:36:28 +0000'."""
    if not moment:
        return None
    if moment.tzinfo is not UTC:
        return format_datetime(moment)
    # format_datetime's own format for UTC, without its timetuple and strftime("%z") per call
    return (
        f"{DAYS[moment.weekday()]}, {moment.day:02d} {MONTHS[moment.month - 1]} "
        f"{moment.year:04d} {moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} +0000"
    )


def new_sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


def log_entry(**fields: Any) -> dict[str, Any]:
    return {**fields, "at": now().isoformat()}


@dataclass
class CallRecord:
    account_sid: str
    to: str
    from_: str
    params: dict[str, Any]
    direction: str = "outbound-api"
    parent_call_sid: str | None = None
    sid: str = field(default_factory=lambda: new_sid("CA"))
    status: str = "queued"
    answered_by: str | None = None
    date_created: datetime = field(default_factory=now)
    date_updated: datetime = field(default_factory=now)
    start_time: datetime | None = None
    end_time: datetime | None = None
    duration_s: int | None = None
    statuses: list[dict[str, Any]] = field(default_factory=list)
    documents: list[dict[str, Any]] = field(default_factory=list)
    played: list[dict[str, Any]] = field(default_factory=list)
    digits: list[dict[str, Any]] = field(default_factory=list)
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    child_call_sids: list[str] = field(default_factory=list)
    sequence_number: int = 0

    @property
    def uri(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{self.sid}.json"

    @property
    def ended(self) -> bool:
        return self.status in FINAL_CALL_STATUSES

    def set_status(self, status: str) -> None:
        self.status = status
        self.date_updated = now()
        self.statuses.append({"status": status, "at": self.date_updated.isoformat()})

    def to_twilio(self) -> dict[str, Any]:
        base = self.uri.removesuffix(".json")
        return {
            "account_sid": self.account_sid,
            "annotation": None,
            "answered_by": self.answered_by,
            "api_version": API_VERSION,
            "caller_name": None,
            "date_created": rfc2822(self.date_created),
            "date_updated": rfc2822(self.date_updated),
            "direction": self.direction,
            "duration": None if self.duration_s is None else str(self.duration_s),
            "end_time": rfc2822(self.end_time),
            "forwarded_from": None,
            "from": self.from_,
            "from_formatted": self.from_,
            "group_sid": None,
            "parent_call_sid": self.parent_call_sid,
            "phone_number_sid": None,
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "sid": self.sid,
            "start_time": rfc2822(self.start_time),
            "status": REST_CALL_STATUS.get(self.status, self.status),
            "subresource_uris": {
                name: f"{base}/{path}.json"
                for name, path in (
                    ("notifications", "Notifications"),
                    ("recordings", "Recordings"),
                    ("events", "Events"),
                    ("payments", "Payments"),
                )
            },
            "to": self.to,
            "to_formatted": self.to,
            "trunk_sid": None,
            "uri": self.uri,
        }

    def to_log(self) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "parent_call_sid": self.parent_call_sid,
            "child_call_sids": self.child_call_sids,
            "direction": self.direction,
            "to": self.to,
            "from": self.from_,
            "status": self.status,
            "answered_by": self.answered_by,
            "duration": self.duration_s,
            "requested_at": self.date_created.isoformat(),
            "params": self.params,
            "statuses": self.statuses,
            "documents": self.documents,
            "played": self.played,
            "digits": self.digits,
            "callbacks": self.callbacks,
            "errors": self.errors,
        }


@dataclass
class MessageRecord:
    account_sid: str
    to: str
    from_: str | None
    body: str
    params: dict[str, Any]
    # outbound-api (messages.create), outbound-reply (a TwiML <Message>) or inbound
    direction: str = "outbound-api"
    sid: str = field(default_factory=lambda: new_sid("SM"))
    status: str = "queued"
    error_code: int | None = None
    date_created: datetime = field(default_factory=now)
    date_updated: datetime = field(default_factory=now)
    date_sent: datetime | None = None
    statuses: list[dict[str, Any]] = field(default_factory=list)
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def uri(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}.json"

    def set_status(self, status: str) -> None:
        self.status = status
        self.date_updated = now()
        self.statuses.append({"status": status, "at": self.date_updated.isoformat()})

    def to_twilio(self) -> dict[str, Any]:
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": rfc2822(self.date_created),
            "date_sent": rfc2822(self.date_sent),
            "date_updated": rfc2822(self.date_updated),
            "direction": self.direction,
            "error_code": self.error_code,
            "error_message": None,
            "from": self.from_,
            "messaging_service_sid": self.params.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": self.uri.removesuffix(".json") + "/Media.json"},
            "to": self.to,
            "uri": self.uri,
        }

    def to_log(self) -> dict[str, Any]:
        return {
            **self.to_twilio(),
            "requested_at": self.date_created.isoformat(),
            "params": self.params,
            "statuses": self.statuses,
            "callbacks": self.callbacks,
            "errors": self.errors,
        }
