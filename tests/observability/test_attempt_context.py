"""The attempt a carrier callback names, as the logs carry it."""

from urllib.parse import parse_qs
from uuid import UUID, uuid4

import pytest

from app.observability.http import attempt_from

ATTEMPT = str(uuid4())


def by_parse_qs(query: str) -> str | None:
    values = parse_qs(query).get("attempt")
    try:
        return str(UUID(values[0])) if values else None
    except ValueError:
        return None


@pytest.mark.parametrize(
    "query",
    [
        f"attempt={ATTEMPT}",
        f"attempt={ATTEMPT.upper()}",
        f"attempt={ATTEMPT}&attempt={uuid4()}",
        f"other=1&attempt={ATTEMPT}",
        f"attempt=%7B{ATTEMPT}%7D",
        f"attempt={ATTEMPT}+",
        "attempt=",
        "attempt=not-a-uuid",
        "",
        "attempt",
    ],
)
def test_the_attempt_is_read_as_parse_qs_reads_it(query: str) -> None:
    scope = {"type": "http", "query_string": query.encode()}
    assert attempt_from(scope) == by_parse_qs(query)
