"""Log lines: one JSON object each, with the context, and no phone number in clear."""

import io
import json
import logging
from collections.abc import Iterator

import pytest

from app.observability import logs


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing JSON lines to a buffer, with masking installed as in every process."""
    logs.install_masking()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("tests.observability")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, str]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_has_time_level_logger_and_message(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    logger.info("dialing %s", "now")
    [line] = lines(stream)
    assert line["level"] == "INFO" and line["logger"] == "tests.observability"
    assert line["message"] == "dialing now"
    assert line["ts"].endswith("+00:00") and "T" in line["ts"]
    assert "request_id" not in line and "lead_id" not in line


def test_the_context_is_logged_while_it_is_bound(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    tokens = [logs.request_id.set("req-1"), logs.lead_id.set(None), logs.attempt_id.set(None)]
    try:
        logs.bind(lead="lead-1", attempt="attempt-1")
        logger.warning("placed")
    finally:
        for var, token in zip(logs.CONTEXT.values(), tokens, strict=True):
            var.reset(token)
    [line] = lines(stream)
    assert (line["request_id"], line["lead_id"], line["attempt_id"]) == (
        "req-1",
        "lead-1",
        "attempt-1",
    )


def test_phones_are_masked_in_message_args_and_tracebacks(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    logger.info("lead +14155550142 typed %s", "(415) 555-0142")
    logger.debug("params %r", ({"phone": "+14155550101"},))
    try:
        raise ValueError("no rep for +14155550102")
    except ValueError:
        logger.exception("failed for %s", b"To=%2B14155550103")
    text = stream.getvalue()
    for clear in ("5550142", "555-0142", "5550101", "5550102", "5550103"):
        assert clear not in text
    first, second, third = lines(stream)
    assert first["message"] == "lead +1415***0142 typed (415) ***-0142"
    assert second["message"] == "params ({'phone': '+1415***0101'},)"
    assert third["message"] == "failed for b'To=%2B1415***0103'"
    assert "ValueError: no rep for +1415***0102" in third["exc"]


def test_masking_keeps_the_arguments_shape_for_formatters_that_unpack_them() -> None:
    """uvicorn's access formatter unpacks record.args; masking must not join them."""
    logs.install_masking()
    record = logging.getLogRecordFactory()(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "PUT", "/_sandbox/phones/+14155550101", "1.1", 200),
        None,
    )
    assert record.args == ("127.0.0.1:5000", "PUT", "/_sandbox/phones/+1415***0101", "1.1", 200)


def test_installing_masking_twice_masks_once() -> None:
    logs.install_masking()
    factory = logging.getLogRecordFactory()
    logs.install_masking()
    assert logging.getLogRecordFactory() is factory


def test_text_format_masks_and_shows_the_context() -> None:
    formatter = logs.TextFormatter()
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "to %s", ("+14155550142",), None)
    token = logs.lead_id.set("lead-9")
    try:
        text = formatter.format(record)
    finally:
        logs.lead_id.reset(token)
    assert "to +1415***0142" in text and text.endswith("[lead_id=lead-9]")
