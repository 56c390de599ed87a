"""Public form intake: read whatever a form tool sends, safely, and turn it into a submission."""

import hashlib
import hmac
import json
import time
from collections.abc import AsyncGenerator, Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import FormData, Headers, UploadFile
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser
from starlette.requests import Request

from app.errors import AppError, Unauthorized
from app.intake.fields import extract_form_fields
from app.leads.service import Submission
from app.models import Source

SIGNATURE_HEADER = "X-FirstRing-Signature"
JSON_TYPES = ("application/json",)
FORM_TYPE = "application/x-www-form-urlencoded"
MULTIPART_TYPE = "multipart/form-data"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "unsupported_media_type"


async def read_body(request: Request, *, limit: int) -> bytes:
    """Read at most `limit` bytes, refusing early on a declared or streamed excess."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The body is over {limit} bytes.")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise PayloadTooLarge(f"The body is over {limit} bytes.")
    return bytes(body)


def signature_for(secret: str, timestamp: str, body: bytes) -> str:
    message = timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_signature(source: Source, header: str | None, body: bytes, tolerance: int) -> None:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`, as Stripe signs its webhooks."""
    if not source.secret:
        return
    parts = dict(p.split("=", 1) for p in (header or "").split(",") if "=" in p)
    timestamp, given = parts.get("t", ""), parts.get("v1", "")
    if not timestamp.isdigit() or not given:
        raise Unauthorized(
            f"This source requires a {SIGNATURE_HEADER} header.", field=SIGNATURE_HEADER
        )
    if abs(time.time() - int(timestamp)) > tolerance:
        raise Unauthorized("The signature's timestamp is too old.", field=SIGNATURE_HEADER)
    expected = [signature_for(secret, timestamp, body) for secret in signing_secrets(source)]
    if not any(hmac.compare_digest(signature, given) for signature in expected):
        raise Unauthorized("The signature does not match the body.", field=SIGNATURE_HEADER)


def signing_secrets(source: Source) -> list[str]:
    """The current secret, and the one it replaced while that one's grace period lasts."""
    secrets = [source.secret] if source.secret else []
    expires = source.previous_secret_expires_at
    if source.previous_secret and expires is not None and expires > datetime.now(UTC):
        secrets.append(source.previous_secret)
    return secrets


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


async def parse_body(content_type: str, body: bytes) -> Any:
    kind = media_type(content_type)
    if kind in JSON_TYPES or kind.endswith("+json"):
        return parse_json(body)
    if kind == FORM_TYPE:
        return form_values(await FormParser(form_headers(content_type), replay(body)).parse())
    if kind == MULTIPART_TYPE:
        return await parse_multipart(content_type, body)
    raise UnsupportedMediaType(
        f"Send JSON, {FORM_TYPE} or {MULTIPART_TYPE}, not '{kind or 'nothing'}'.",
        field="Content-Type",
    )


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AppError(f"The body is not valid JSON: {exc}", code="malformed_json") from exc


async def parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    parser = MultiPartParser(form_headers(content_type), replay(body), max_part_size=len(body) + 1)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise AppError(
            f"The multipart body is malformed: {exc.message}", code="malformed_body"
        ) from exc
    try:
        return form_values(form)
    finally:
        await form.close()


def form_headers(content_type: str) -> Headers:
    return Headers({"content-type": content_type})


async def replay(body: bytes) -> AsyncGenerator[bytes, None]:
    yield body


def form_values(form: FormData) -> dict[str, str | list[str]]:
    """Repeated keys (checkbox groups) become lists; an uploaded file is kept by its name."""
    values: dict[str, str | list[str]] = {}
    for key in form:
        items = [v.filename or "" if isinstance(v, UploadFile) else v for v in form.getlist(key)]
        values[key] = items[0] if len(items) == 1 else items
    return values


def submission_from(
    payload: Any, field_map: Mapping[str, str], idempotency_key: str | None
) -> Submission:
    found = extract_form_fields(payload, field_map or None)
    return Submission(
        phone_raw=storable(found.phone),
        phone_field=storable(found.phone_field) or "phone",
        first_name=storable(found.first_name),
        last_name=storable(found.last_name),
        full_name=storable(found.full_name),
        email=storable(found.email),
        fields={storable(k) or "_": storable(v) or "" for k, v in found.fields.items()},
        idempotency_key=idempotency_key,
    )


def storable(text: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL or lone surrogates; a stray one must not cost a lead."""
    if not text:
        return text
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
