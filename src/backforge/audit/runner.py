"""Runs the checks in order against one target, within the budget, and collects the findings."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from .auth import UserSpec, setup_identities
from .checks import ALL_CHECKS
from .client import AuditClient, BudgetExhausted, Exchange
from .context import AuditContext, AuditOptions
from .exclusions import is_dangerous, parse_exclusion, without_excluded
from .findings import Finding, sort_findings
from .openapi import ApiDocument, DocumentNotFound, load_document


@dataclass
class AuditReport:
    target: str
    document: str
    findings: list[Finding]
    requests: int
    seconds: float
    checks_run: list[str]
    notes: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    operations: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "document": self.document,
            "requests": self.requests,
            "seconds": round(self.seconds, 2),
            "operations": self.operations,
            "users": self.users,
            "checks_run": self.checks_run,
            "notes": self.notes,
            "findings": [f.to_dict() for f in self.findings],
        }


class Progress:
    """What the runner tells whoever watches: a check started, a request went out."""

    def start(self, total_checks: int, max_requests: int) -> None: ...
    def check(self, name: str) -> None: ...
    def request(self, exchange: Exchange) -> None: ...
    def stop(self) -> None: ...


def run_audit(
    base_url: str,
    *,
    openapi: str | None = None,
    users: list[UserSpec] | None = None,
    roles: dict[str, Any] | None = None,
    max_requests: int = 3000,
    max_time: float = 300.0,
    allow_writes: bool = False,
    allow_hosts: list[str] | None = None,
    declaration: str | None = None,
    exclude: list[str] | None = None,
    safe: bool = True,
    options: AuditOptions | None = None,
    checks: list[ModuleType] | None = None,
    progress: Progress | None = None,
    log: Callable[[str], None] | None = None,
) -> AuditReport:
    progress = progress or Progress()
    started = time.monotonic()
    client = AuditClient(
        base_url,
        max_requests=max_requests,
        max_time=max_time,
        allow_hosts=allow_hosts,
        allow_writes=allow_writes,
        on_request=progress.request,
    )
    exclusions = [parse_exclusion(text) for text in exclude or []]
    options = options or AuditOptions()
    options.allow_writes = allow_writes
    options.roles = roles or {}
    options.declaration = declaration or options.declaration
    selected = checks if checks is not None else ALL_CHECKS
    progress.start(len(selected) + 1, max_requests)
    done: list[str] = []
    try:
        progress.check("discovery")
        try:
            doc = load_document(client, openapi)
        except DocumentNotFound as exc:
            if openapi:
                raise  # the one named could not be read
            # A GraphQL-only API, say: the checks that need no document still run.
            doc = ApiDocument({}, "none", [], {})
            missing = str(exc)
        else:
            missing = None
        doc.operations, doc.excluded, unused = without_excluded(doc.operations, exclusions)
        ctx = AuditContext(client, doc, options)
        if missing is not None:
            ctx.note(missing + "; only the checks that need none ran (GraphQL, headers, CORS)")
        if doc.excluded:
            keys = ", ".join(op.key for op in doc.excluded)
            ctx.note(f"excluded by --exclude, never requested: {keys}")
        for exclusion in unused:
            ctx.note(f"--exclude '{exclusion.method} {exclusion.path}' matched no operation")
        if safe:
            dangerous = [op for op in doc.operations if is_dangerous(op)]
            if dangerous:
                doc.operations = [op for op in doc.operations if op not in dangerous]
                doc.excluded += dangerous
                keys = ", ".join(op.key for op in dangerous)
                ctx.note(f"left out as dangerous writes (--unsafe sends them): {keys}")
        setup_identities(ctx, users or [])
        for module in selected:
            progress.check(module.NAME)
            try:
                module.run(ctx)
            except BudgetExhausted:
                ctx.note(f"the budget ran out during {module.NAME}; later checks skipped")
                if module.NAME not in PASSIVE:
                    _run_passive(ctx, selected, done)
                break
            except Exception as exc:  # one check's surprise must not cost the others
                ctx.note(f"check {module.NAME} stopped: {type(exc).__name__}: {exc}")
                if log:
                    log(traceback.format_exc())
                continue
            done.append(module.NAME)
    finally:
        progress.stop()
        client.close()
    return AuditReport(
        target=base_url,
        document=doc.source,
        findings=sort_findings(ctx.findings),
        requests=client.sent,
        seconds=time.monotonic() - started,
        checks_run=done,
        notes=ctx.notes,
        users=[u.name for u in ctx.users],
        operations=len(doc.operations),
    )


PASSIVE = {"error_hygiene", "sensitive_data", "documentation_drift", "declaration_lint"}


def _run_passive(ctx: AuditContext, selected: list[ModuleType], done: list[str]) -> None:
    """Passive checks send nothing: they still run when the budget is spent."""
    for module in selected:
        if module.NAME in PASSIVE and module.NAME not in done:
            module.run(ctx)
            done.append(module.NAME)
