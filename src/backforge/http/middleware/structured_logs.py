"""structlog set up once per process: JSON lines (production) or coloured lines (development).

Every line passes `redact`, so a password, token, cookie or key given to any logger under a
telling name is replaced before it is written.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import Any

import orjson
import structlog

from ...spec.server import Log

REDACTED = "[redacted]"
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
    """The access log in JSON mode: the line structlog's JSON pipeline writes (same keys,
    redacted the same way), without the pipeline, which cost a tenth of a small request."""

    def __init__(self, stream: Any, level: int):
        self.stream = stream
        self.enabled = level <= logging.INFO

    def info(self, event: str, **fields: Any) -> None:
        if not self.enabled:
            return
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
        line = {**fields, "event": event, "level": "info"}
        line["timestamp"] = f"{stamp}.{int(now % 1 * 1_000_000):06d}Z"
        self.stream.write(orjson.dumps(redact(None, "info", line), default=str) + b"\n")
        self.stream.flush()


def _orjson_dumps(event: dict[str, Any], **_: Any) -> bytes:
    return orjson.dumps(event, default=str)


def configure_logging(settings: Log) -> Any:
    """The access logger, and backforge's standard-library loggers in the same shape.

    Nothing global is touched (no `structlog.configure`, not the root logger): an app mounted
    inside another keeps the host's logging as it was.
    """
    level = _LEVELS[settings.level]
    shared: list[Any] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    buffer = getattr(sys.stdout, "buffer", None)
    if settings.format == "json":
        line_renderer: Any = structlog.processors.JSONRenderer()
        if buffer is not None:
            access: Any = JsonAccessLog(buffer, level)
        else:
            renderer = structlog.processors.JSONRenderer(serializer=_orjson_dumps)
            access = _structlog_access(structlog.PrintLogger(), [*shared, redact, renderer], level)
    else:
        line_renderer = structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty())
        output = structlog.PrintLogger(sys.stdout)
        access = _structlog_access(output, [*shared, redact, line_renderer], level)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.processors.format_exc_info],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                redact,
                line_renderer,
            ],
        )
    )
    handler._backforge = True  # type: ignore[attr-defined]
    ours = logging.getLogger("backforge")
    for existing in [h for h in ours.handlers if getattr(h, "_backforge", False)]:
        ours.removeHandler(existing)
    ours.addHandler(handler)
    ours.setLevel(level)
    ours.propagate = False
    return access


def _structlog_access(output: Any, processors: list[Any], level: int) -> Any:
    # bind() now: the lazy proxy that wrap_logger returns would rebuild the logger per call.
    return structlog.wrap_logger(
        output, processors=processors, wrapper_class=structlog.make_filtering_bound_logger(level)
    ).bind()
