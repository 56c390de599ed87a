"""Rules Twilio enforces that its OpenAPI description cannot express."""

import re
from typing import Any
from urllib.parse import urlsplit

from sandbox import errors

E164 = re.compile(r"^\+[1-9]\d{1,14}$")
CLIENT_OR_SIP = re.compile(r"^(client:[\w.\-]+|sip:[^@\s]+@[^\s]+)$")


def is_phone_number(value: str) -> bool:
    return bool(E164.match(value))


def is_endpoint(value: str) -> bool:
    """A call's To may be a phone number, a Twilio Client identity or a SIP address."""
    return is_phone_number(value) or bool(CLIENT_OR_SIP.match(value))


def is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def check_call_create(params: dict[str, Any]) -> None:
    if not is_endpoint(params["To"]):
        raise errors.bad_request(errors.INVALID_TO, f"Invalid 'To' Phone Number: {params['To']}")
    if not is_phone_number(params["From"]) and not params["From"].startswith("client:"):
        message = f"Invalid 'From' Phone Number: {params['From']}"
        raise errors.bad_request(errors.INVALID_FROM, message)
    if not any(params.get(key) for key in ("Url", "Twiml", "ApplicationSid")):
        message = "Either a 'Url', 'ApplicationSid' or 'Twiml' parameter is required."
        raise errors.bad_request(errors.CALL_INVALID_URL, message)
    check_urls(params, ("Url", "StatusCallback", "FallbackUrl", "AsyncAmdStatusCallback"))
    if params.get("MachineDetection") not in (None, "Enable", "DetectMessageEnd"):
        message = "MachineDetection must be 'Enable' or 'DetectMessageEnd'"
        raise errors.bad_request(errors.INVALID_PARAMETER, message)


def check_call_update(params: dict[str, Any]) -> None:
    check_urls(params, ("Url", "StatusCallback", "FallbackUrl"))


def check_urls(params: dict[str, Any], keys: tuple[str, ...]) -> None:
    for key in keys:
        value = params.get(key)
        if value is not None and not is_http_url(value):
            raise errors.bad_request(errors.CALL_INVALID_URL, f"{key} is not a valid URL: {value}")


def check_message_create(params: dict[str, Any]) -> None:
    if not is_phone_number(params["To"]):
        raise errors.bad_request(errors.INVALID_TO, f"Invalid 'To' Phone Number: {params['To']}")
    sender = params.get("From")
    if sender is None and not params.get("MessagingServiceSid"):
        message = "A 'From' phone number is required."
        raise errors.bad_request(errors.MESSAGE_MISSING_FROM, message)
    if sender is not None and not is_phone_number(sender):
        raise errors.bad_request(errors.INVALID_FROM, f"Invalid 'From' Phone Number: {sender}")
    if not params.get("Body") and not params.get("MediaUrl") and not params.get("ContentSid"):
        raise errors.bad_request(errors.MESSAGE_MISSING_BODY, "Message body is required.")
    callback = params.get("StatusCallback")
    if callback is not None and not is_http_url(callback):
        message = f"The StatusCallback URL {callback} is not a valid URL."
        raise errors.bad_request(errors.MESSAGE_INVALID_CALLBACK, message)
