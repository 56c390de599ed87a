"""Per-source CORS for forms that post straight from the browser.

A source lists the origins (`https://www.example.com`) whose pages may post to it. Such a post
gets `Access-Control-Allow-Origin`, so the page can read the answer (and show a refusal's
reason); a preflight from a listed origin is answered. A browser post from an origin the source
does not list is refused with 403 and stores nothing: without that, a simple (form-encoded)
cross-site post would still create a lead, CORS only hiding the answer. Posts without an Origin
header (server to server) and sources that list no origins are unaffected.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from app.errors import AppError, Forbidden
from app.intake.service import SIGNATURE_HEADER
from app.models import Source

ALLOWED_HEADERS = ", ".join(("Content-Type", "Idempotency-Key", SIGNATURE_HEADER))
PREFLIGHT_MAX_AGE_SECONDS = "600"


class OriginNotAllowed(Forbidden):
    code = "origin_not_allowed"


def cors_headers(source: Source, origin: str | None) -> dict[str, str]:
    """The headers a post from `origin` is answered with; 403 for an origin the source does
    not list when it lists any."""
    if origin is None or not source.cors_origins:
        return {}
    check_origin(source, origin)
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def preflight_headers(source: Source, origin: str | None) -> dict[str, str]:
    """A preflight is answered only for a listed origin; anything else is a 403 without CORS
    headers, which the browser reports as a blocked request."""
    check_origin(source, origin)
    return {
        "Access-Control-Allow-Origin": str(origin),
        "Access-Control-Allow-Methods": "POST",
        "Access-Control-Allow-Headers": ALLOWED_HEADERS,
        "Access-Control-Max-Age": PREFLIGHT_MAX_AGE_SECONDS,
        "Vary": "Origin",
    }


def check_origin(source: Source, origin: str | None) -> None:
    if origin is None or origin not in source.cors_origins:
        raise OriginNotAllowed(
            f"Origin '{origin or ''}' may not post to this source.", field="Origin"
        )


@contextmanager
def errors_carry(headers: dict[str, str]) -> Iterator[None]:
    """Refusals after the origin check carry its CORS headers, so the page can read why."""
    try:
        yield
    except AppError as exc:
        exc.headers = {**headers, **(exc.headers or {})}
        raise
