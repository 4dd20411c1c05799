"""`backforge audit`: a black-box check of any running HTTP API against the senior backend
engineer's checklist and the OWASP API Security Top 10 (2023).

`run_audit` runs it (backforge.audit.runner); `command.audit` is the command. Needs the `[audit]`
extra. The names below load on first use, so the command is listed without the extra.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "run_audit": "runner",
    "AuditReport": "runner",
    "Finding": "findings",
    "Evidence": "findings",
    "Severity": "findings",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
