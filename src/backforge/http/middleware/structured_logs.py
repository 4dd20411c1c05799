"""Logging set up once per process: JSON lines (production) or coloured lines (development,
with structlog).

Every line passes `redact`, so a password, token, cookie or key given to any logger under a
telling name is replaced before it is written.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
from typing import Any

import orjson

from ...spec.server import Log

REDACTED = "[redacted]"
MAX_PENDING_LINES = 256  # access-log lines held before a write, whatever the event loop does
# Names whose values are secrets, whatever logs them.
_SECRET_NAME = re.compile(
    r"pass(word|wd|phrase)?|secret|token|authorization|cookie|api[_-]?key|session|credential"
    r"|private[_-]?key|otp|signature",
    re.IGNORECASE,
)
# Values that look like credentials even under an innocent name.
_SECRET_VALUE = re.compile(
    r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"
)
# Whether a key names a secret, decided once per key (log lines reuse a handful of keys).
_SECRET_NAMES: dict[str, bool] = {}
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def redact(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        secret_name = _SECRET_NAMES.get(key)
        if secret_name is None:
            secret_name = _SECRET_NAMES[key] = key != "event" and bool(_SECRET_NAME.search(key))
        if secret_name:
            event[key] = REDACTED
        elif (
            value.__class__ is str
            and len(value) > 8
            and (" " in value or "\t" in value or "eyJ" in value)  # needed by _SECRET_VALUE
            and _SECRET_VALUE.search(value)
        ):
            event[key] = _SECRET_VALUE.sub(REDACTED, value)
    return event


class JsonAccessLog:
    """The access log in JSON mode: one line per request, redacted like every other line.
    Written straight to the stream: a logging pipeline per request cost a tenth of a small
    request. The lines of one turn of the event loop leave in one write, at the end of that
    turn: under load a write per line was a system call per request."""

    def __init__(self, stream: Any, level: int):
        self.write = _line_writer(stream)
        self.enabled = level <= logging.INFO
        self._pending: list[bytes] = []

    def info(self, event: str, **fields: Any) -> None:
        if self.enabled:
            fields["event"] = event  # `fields` is this call's own dict
            fields["level"] = "info"
            fields["timestamp"] = _timestamp(time.time())
            pending = self._pending
            pending.append(orjson.dumps(redact(None, "info", fields), default=str))
            if len(pending) == 1:
                try:
                    asyncio.get_running_loop().call_soon(self.flush)
                except RuntimeError:  # no event loop here: now
                    self.flush()
            elif len(pending) >= MAX_PENDING_LINES:  # a turn that never ends loses nothing more
                self.flush()

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        if pending:
            self.write(b"\n".join(pending))


class JsonFormatter(logging.Formatter):
    """backforge's standard-library log records as JSON lines of the same shape."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "event": record.getMessage(),
            "level": record.levelname.lower(),
            "timestamp": _timestamp(record.created),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(redact(None, "", line), default=str).decode()


def configure_logging(settings: Log) -> Any:
    """The access logger, and backforge's standard-library loggers in the same shape.

    Nothing global is touched (no `structlog.configure`, not the root logger): an app mounted
    inside another keeps the host's logging as it was. structlog (and the rich library it
    loads, 18 MB) is imported for the coloured development format only.
    """
    level = _LEVELS[settings.level]
    if settings.format == "json":
        access: Any = JsonAccessLog(sys.stdout, level)
        formatter: logging.Formatter = JsonFormatter()
    else:
        access, formatter = _console_logging(level)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    handler._backforge = True  # type: ignore[attr-defined]
    ours = logging.getLogger("backforge")
    for existing in [h for h in ours.handlers if getattr(h, "_backforge", False)]:
        ours.removeHandler(existing)
    ours.addHandler(handler)
    ours.setLevel(level)
    ours.propagate = False
    return access


def _console_logging(level: int) -> tuple[Any, logging.Formatter]:
    import structlog

    shared: list[Any] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer = structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty())
    # bind() now: the lazy proxy that wrap_logger returns would rebuild the logger per call.
    access = structlog.wrap_logger(
        structlog.PrintLogger(sys.stdout),
        processors=[*shared, redact, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
    ).bind()
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.processors.format_exc_info],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, redact, renderer],
    )
    return access, formatter


def _line_writer(stream: Any):
    """Write one line and flush it, as bytes where the stream takes them."""
    buffer = getattr(stream, "buffer", None)

    def write(data: bytes) -> None:
        if buffer is not None:
            buffer.write(data + b"\n")
            buffer.flush()
        else:
            stream.write(data.decode() + "\n")
            stream.flush()

    return write


def _timestamp(seconds: float) -> str:
    whole = int(seconds)
    template = _SECONDS.get(whole)
    if template is None:  # formatted once per second, not once per line
        _SECONDS.clear()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        template = _SECONDS[whole] = stamp + ".%06dZ"
    return template % ((seconds - whole) * 1_000_000)


_SECONDS: dict[int, str] = {}
