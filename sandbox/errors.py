"""Twilio's REST error format: {"code", "message", "more_info", "status"}."""

from typing import Any

# Error codes Twilio uses for the refusals the sandbox reproduces.
NOT_FOUND = 20404
AUTHENTICATE = 20003
UNKNOWN_PARAMETER = 20001
INVALID_PARAMETER = 21100  # Twilio's generic "invalid parameter value" family starts here
CALL_MISSING_TO = 21201
CALL_INVALID_URL = 21205
INVALID_TO = 21211
INVALID_FROM = 21212
CALL_MISSING_FROM = 21213
CALL_NOT_IN_PROGRESS = 21220
MESSAGE_MISSING_BODY = 21602
MESSAGE_MISSING_FROM = 21603
MESSAGE_MISSING_TO = 21604
MESSAGE_INVALID_CALLBACK = 21609

# Call-time errors recorded on a call when the product's webhook misbehaves.
HTTP_RETRIEVAL_FAILURE = 11200
HTTP_CONNECTION_FAILURE = 11205
DOCUMENT_PARSE_FAILURE = 12100
INVALID_CONTENT_TYPE = 12300


class TwilioApiError(Exception):
    """A refusal, rendered exactly like Twilio's REST error body."""

    def __init__(
        self, status: int, code: int, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }


def not_found(path: str) -> TwilioApiError:
    return TwilioApiError(404, NOT_FOUND, f"The requested resource {path} was not found")


def bad_request(code: int, message: str) -> TwilioApiError:
    return TwilioApiError(400, code, message)
