"""Phone masking for logs: keep the country code, the area code and the last four digits.

    +14155550142      -> +1415***0142
    (415) 555-0142    -> (415) ***-0142
    +44 20 7946 0958  -> +44 20 **** 0958

Only phone-shaped text is touched: E.164 (`+` or its URL encoding `%2B`, then 8 to 15 digits,
spaces, dots, dashes or brackets allowed between them), North American national formats, and
bare runs of 10 to 12 digits standing on their own (a Unix time in seconds is one too; one in
milliseconds, 13 digits, is not). UUIDs, ISO timestamps, IP addresses and Twilio SIDs do not
match.
"""

import re

_SEPARATED_DIGITS = r"(?:\d[ ().\-]{0,2}){7,14}\d"
PHONE = re.compile(
    rf"(?:\+|%2[Bb]){_SEPARATED_DIGITS}(?!\d)"  # E.164, also URL-encoded
    r"|(?<![\w+])(?:1[ .\-]?)?(?:\(\d{3}\) ?|\d{3}[ .\-])\d{3}[ .\-]\d{4}(?![\w\-])"  # national
    r"|(?<![\w.+\-])\d{10,12}(?![\w\-]|\.\d)"  # a bare digit run: 4155550142, 14155550142
)


def mask_digits(text: str) -> str:
    """Star the middle digits of one phone: keep the first min(4, n - 7) and the last 4."""
    count = sum(char.isdigit() for char in text)
    keep_head = max(min(4, count - 7), 0)
    masked_until = count - 4
    out, seen = [], 0
    for char in text:
        if char.isdigit():
            out.append("*" if keep_head <= seen < masked_until else char)
            seen += 1
        else:
            out.append(char)
    return "".join(out)


def mask_phones(text: str) -> str:
    """Every phone number in `text`, masked; everything else unchanged."""
    if not any(char.isdigit() for char in text):
        return text
    return PHONE.sub(lambda match: _mask_match(match.group()), text)


def _mask_match(found: str) -> str:
    # The URL-encoded plus carries digits of its own ("%2B"): mask only what follows it.
    if found[:3].upper() == "%2B":
        return found[:3] + mask_digits(found[3:])
    return mask_digits(found)
