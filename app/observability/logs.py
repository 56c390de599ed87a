"""Logging for every process: one JSON object per line (or plain text), phones masked.

`configure_logging` runs once per process from the `firstring` command. Masking is installed as
the log record factory, so it applies to every record of every logger (uvicorn's, arq's,
SQLAlchemy's, the twilio library's) before any handler or formatter sees it; the formatters
mask their output once more, for what reaches them outside the message (request ids, tracebacks).
"""

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from app.observability.masking import mask_phones

# What the current request or job is about; logged with every line while it is set.
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
lead_id: ContextVar[str | None] = ContextVar("lead_id", default=None)
attempt_id: ContextVar[str | None] = ContextVar("attempt_id", default=None)
CONTEXT = {"request_id": request_id, "lead_id": lead_id, "attempt_id": attempt_id}


def bind(*, lead: object = None, attempt: object = None) -> None:
    """Name the lead and/or attempt the current task works on, for its log lines."""
    if lead is not None:
        lead_id.set(str(lead))
    if attempt is not None:
        attempt_id.set(str(attempt))


class _Masked:
    """Stands in for a log argument whose text held a phone number, keeping %s and %r apart."""

    def __init__(self, value: object) -> None:
        self.text, self.representation = mask_phones(str(value)), mask_phones(repr(value))

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.representation


def mask_arg(value: object) -> object:
    if isinstance(value, bool | int | float) or value is None:
        return value  # %d and %f need numbers; a phone is never logged as one
    if isinstance(value, str):
        return mask_phones(value)
    masked = _Masked(value)
    return masked if (masked.text, masked.representation) != (str(value), repr(value)) else value


def mask_record(record: logging.LogRecord) -> logging.LogRecord:
    """Mask the message, its arguments and any traceback, keeping the arguments' shape
    (uvicorn's access formatter unpacks them)."""
    if isinstance(record.msg, str):
        record.msg = mask_phones(record.msg)
    else:
        record.msg = mask_arg(record.msg)
    if isinstance(record.args, dict):
        record.args = {key: mask_arg(value) for key, value in record.args.items()}
    elif record.args:
        record.args = tuple(mask_arg(value) for value in record.args)
    if record.exc_info and not record.exc_text:
        record.exc_text = mask_phones(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = mask_phones(record.stack_info)
    return record


def install_masking() -> None:
    """Mask every log record this process creates, from any logger. Safe to call twice."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "masks_phones", False):
        return

    def masking_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return mask_record(factory(*args, **kwargs))

    masking_factory.masks_phones = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(masking_factory)


def context_fields() -> dict[str, str]:
    return {name: value for name, var in CONTEXT.items() if (value := var.get()) is not None}


class JsonFormatter(logging.Formatter):
    """{"ts", "level", "logger", "message", request_id / lead_id / attempt_id when known,
    "exc" with the traceback}: one line per record."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **context_fields(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return mask_phones(json.dumps(line, ensure_ascii=False, default=str))


class TextFormatter(logging.Formatter):
    """For a terminal: time, level, logger, message, then the context as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = " ".join(f"{name}={value}" for name, value in context_fields().items())
        return mask_phones(f"{text} [{context}]" if context else text)


def configure_logging(level: str = "INFO", log_format: str = "json") -> None:
    """One handler on the root logger, to stderr; every other logger propagates to it."""
    install_masking()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # SQLAlchemy keeps its loggers at WARNING unless told; DEBUG shows statements, parameters
    # and rows (masked like everything else).
    sql_level = logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING
    logging.getLogger("sqlalchemy.engine").setLevel(sql_level)
    # arq configures nothing when started through run_worker; its loggers propagate to root.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "arq"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
