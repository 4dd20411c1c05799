"""Operations an auditor keeps the audit away from: `--exclude 'METHOD PATH-GLOB'`.

    --exclude 'DELETE /api/accounts/*'   --exclude '* /api/admin/*'   --exclude 'POST /reset'

The method is one HTTP method or `*`; the glob (`*` any characters, `?` one) is matched against
the operation's path as the document writes it (`/api/orders/{id}`) and as it is served (with
the `servers` prefix: `/v1/api/orders/{id}`). An excluded operation is left out of the
document before any check runs, so no probe, generated request or follow-up is sent to it.

With `--safe` (the default) the writes that look dangerous beyond the audit's own objects are
left out the same way: a path or operation id that says purge, wipe, drop, shutdown, bulk,
refund, transfer... (`POST /admin/purge-cache`), a DELETE of a whole collection (`DELETE
/api/orders`), or an operation the document marks `x-dangerous: true` / `x-destructive: true`.
Their reads are still audited; `--unsafe` sends the writes too (with --allow-writes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

from .client import AuditError
from .openapi import Operation

_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "*"}
_READS = {"GET", "HEAD", "OPTIONS"}
DANGEROUS_WORDS = re.compile(
    r"(^|[/_\-.{}])"
    r"(purge|wipe|truncate|drop|destroy|shutdown|restart|reboot|flush|clear|erase|nuke|"
    r"reset[-_]?all|delete[-_]?all|remove[-_]?all|factory[-_]?reset|seed|migrate|restore|"
    r"bulk|batch|broadcast|mass|charge|payout|refund|transfer|withdraw|deploy|rollback)"
    r"([/_\-.{}]|$)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Exclusion:
    method: str
    path: str

    def covers(self, op: Operation) -> bool:
        """The document's path, or the path as served (under a `servers` prefix)."""
        if self.method not in ("*", op.method):
            return False
        return any(fnmatchcase(path, self.path) for path in (op.path, op.prefix + op.path))


def parse_exclusion(text: str) -> Exclusion:
    """'METHOD PATH-GLOB', refused with a clear error when it is not that."""
    method, _, path = text.strip().partition(" ")
    method, path = method.upper(), path.strip()
    if method not in _METHODS or not path.startswith(("/", "*")):
        raise AuditError(
            f"--exclude {text!r}: write 'METHOD PATH-GLOB', e.g. 'DELETE /api/accounts/*' "
            "(METHOD is an HTTP method or *)"
        )
    return Exclusion(method, path)


def without_excluded(
    operations: list[Operation], exclusions: list[Exclusion]
) -> tuple[list[Operation], list[Operation], list[Exclusion]]:
    """The operations kept, those left out, and the exclusions that matched none (a typo the
    auditor must hear of: they believe the operation is protected)."""
    kept, left = [], []
    for op in operations:
        (left if any(e.covers(op) for e in exclusions) else kept).append(op)
    unused = [e for e in exclusions if not any(e.covers(op) for op in left)]
    return kept, left, unused


def is_dangerous(op: Operation) -> bool:
    """A write whose harm would reach beyond the objects the audit makes itself."""
    if op.method in _READS:
        return False
    if op.raw.get("x-dangerous") is True or op.raw.get("x-destructive") is True:
        return True
    if op.method == "DELETE" and not op.path.rstrip("/").endswith("}"):
        return True  # a whole collection
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", op.operation_id or "")  # bulkDelete
    return DANGEROUS_WORDS.search(f"{op.path}/{words}") is not None
