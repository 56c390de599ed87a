"""The REST resources' dates are email.utils.format_datetime's, to the character."""

from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from sandbox.records import rfc2822

MOMENTS = [
    datetime(2010, 8, 31, 20, 36, 28, tzinfo=UTC),
    datetime(2026, 11, 28, 0, 0, 0, 999_999, tzinfo=UTC),
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
    *(
        datetime(2024, month, 29 if month == 2 else 3, 7, 5, 9, tzinfo=UTC)
        for month in range(1, 13)
    ),
    *(datetime(2026, 3, day, 12, tzinfo=UTC) for day in range(1, 8)),  # every weekday
    datetime(2026, 11, 28, 13, 5, tzinfo=timezone(timedelta(hours=-8))),  # not UTC: as before
]


@pytest.mark.parametrize("moment", MOMENTS, ids=str)
def test_rfc2822_is_format_datetime(moment: datetime) -> None:
    assert rfc2822(moment) == format_datetime(moment)


def test_no_moment_no_date() -> None:
    assert rfc2822(None) is None
