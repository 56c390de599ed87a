"""The sandbox's own form encoding and signing match urllib's and the twilio library's."""

import uuid
from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator

from sandbox.callbacks import Webhooks, form_encode, idempotency_token

TOKEN = "12345678901234567890123456789012"
URL = "https://product.example/twilio/voice/rep?attempt=7b1d&x=a+b"
PARAMS = [
    {},
    {"CallSid": "CA" + "0" * 32, "From": "+14155550100", "To": "client:ada"},
    {"Digits": "", "Body": "Café & crème = 100% ~ fine/ok?", "Timestamp": "Sat, 28 Nov 2026"},
    {"b": "2", "a": "1", "A": "0", "Url": "http://x.test/a?b=c&d=e#f"},
]


@pytest.mark.parametrize("params", PARAMS)
def test_form_encoding_is_urlencode(params: dict[str, str]) -> None:
    assert form_encode(params) == urlencode(params)


@pytest.mark.parametrize("params", PARAMS)
@pytest.mark.parametrize("method", ["POST", "GET"])
def test_signatures_are_twilio_signatures(params: dict[str, str], method: str) -> None:
    url, headers, body = Webhooks(TOKEN, 1.0).signed_request(URL, method, params)
    signed = params if method == "POST" else {}
    expected = RequestValidator(TOKEN).compute_signature(url, signed)
    assert headers["X-Twilio-Signature"] == expected
    assert RequestValidator(TOKEN).validate(url, signed, expected)
    assert (body or b"").decode() == (urlencode(params) if method == "POST" else "")


def test_idempotency_tokens_are_uuid4_strings() -> None:
    tokens = {idempotency_token() for _ in range(1000)}
    assert len(tokens) == 1000
    for token in tokens:
        parsed = uuid.UUID(token)
        assert str(parsed) == token and parsed.version == 4 and parsed.variant == uuid.RFC_4122
