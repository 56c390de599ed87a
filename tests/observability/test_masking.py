"""Phone masking: a pure function over text."""

import pytest

from app.observability.masking import mask_phones


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("+14155550142", "+1415***0142"),
        ("call +14155550142 now", "call +1415***0142 now"),
        ("(415) 555-0142", "(415) ***-0142"),
        ("(415)555-0142", "(415)***-0142"),
        ("415-555-0142", "415-***-0142"),
        ("415.555.0142", "415.***.0142"),
        ("415 555 0142", "415 *** 0142"),
        ("1-415-555-0142", "1-415-***-0142"),
        ("1 (415) 555-0142", "1 (415) ***-0142"),
        ("+1 (415) 555-0142", "+1 (415) ***-0142"),
        ("+1-415-555-0142", "+1-415-***-0142"),
        ("4155550142", "415***0142"),
        ("14155550142", "1415***0142"),
        ("+442079460958", "+4420****0958"),
        ("+44 20 7946 0958", "+44 20 **** 0958"),
        ("+4915112345678", "+4915*****5678"),
        ("To=%2B14155550101&From=%2B14155550100", "To=%2B1415***0101&From=%2B1415***0100"),
        ("('+14155550142', 'Ada')", "('+1415***0142', 'Ada')"),
        ('{"phone": "+14155550142"}', '{"phone": "+1415***0142"}'),
        ("/_sandbox/phones/+14155550101 HTTP/1.1", "/_sandbox/phones/+1415***0101 HTTP/1.1"),
        ("+14155550142,+14155550143", "+1415***0142,+1415***0143"),
        ("t=1718000000", "t=171***0000"),
    ],
)
def test_phones_keep_country_area_and_last_four(text: str, masked: str) -> None:
    assert mask_phones(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no digits here",
        "2024-06-01T12:00:00.123456+00:00",
        "2024-06-01 12:00:00",
        "lead 3f2a1b4c-1234-5678-9abc-414155550142",
        "CA0123456789abcdef0123456789abcdef",
        "AC00000000000000000000000000000001",
        "192.168.100.200:8000",
        "took 0.0123s, 200 OK, 5 retries",
        "dial:3f2a1b4c-1234-5678-9abc-414155550142:1",
        "1718000000.123",
        "cron:sweep:1795000004452",
        "555-0142",
        "version 1.2.3",
    ],
)
def test_what_is_not_a_phone_is_left_alone(text: str) -> None:
    assert mask_phones(text) == text


def test_masking_twice_changes_nothing() -> None:
    once = mask_phones("+14155550142 and (415) 555-0142")
    assert mask_phones(once) == once
