"""The `backforge audit` command (registered by `backforge.cli`). This module loads only
click: the audit, its HTTP client and its reports load when the command runs, so the command
is listed without the `[audit]` extra and names the extra when it runs without it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from .findings import Severity

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def exit_code(severities: list[Severity], fail_on: str) -> int:
    from .findings import Severity

    if fail_on.lower() == "none":
        return EXIT_OK
    threshold = Severity.parse(fail_on)
    return EXIT_FINDINGS if any(s >= threshold for s in severities) else EXIT_OK


@click.command("audit")
@click.argument("base_url", metavar="BASE_URL")
@click.option(
    "--openapi", metavar="URL|FILE", help="URL or file of the OpenAPI document (found if omitted)."
)
@click.option(
    "--user",
    "users",
    multiple=True,
    metavar="NAME=CREDENTIALS",
    help="NAME=CREDENTIALS: bearer:TOKEN, basic:USER:PASS, apikey:KEY, login:USER:PASS, "
    "cookie:NAME=VALUE, wfc:FILE (Web Fuzzing Commons auth file). Repeatable.",
)
@click.option(
    "--roles",
    metavar="FILE",
    help="YAML/JSON role map: {users: {NAME: ROLE}, operations: {'GET /x': [ROLE]}}.",
)
@click.option(
    "--max-requests", default=3000, show_default=True, metavar="N", help="Stop after N requests."
)
@click.option(
    "--max-time",
    default=300.0,
    show_default=True,
    metavar="SECONDS",
    help="Stop after this many seconds.",
)
@click.option(
    "--allow-writes",
    is_flag=True,
    help="Also send DELETE and updates to objects the audit did not create.",
)
@click.option(
    "--allow-host",
    "allow_hosts",
    multiple=True,
    metavar="HOST",
    help="A non-loopback host you own and may audit. Repeatable.",
)
@click.option(
    "--exclude",
    multiple=True,
    metavar="'METHOD PATH-GLOB'",
    help="Never request these operations, e.g. 'DELETE /api/accounts/*' or '* /api/admin/*'. "
    "Repeatable.",
)
@click.option(
    "--safe/--unsafe",
    default=True,
    show_default=True,
    help="Never write to operations that look dangerous beyond the audit's own objects "
    "(purge, bulk, refund, a DELETE of a whole collection, x-dangerous: true).",
)
@click.option(
    "--declaration", metavar="FILE", help="The backforge declaration of the target: lint it too."
)
@click.option(
    "--format",
    "report_format",
    default="table",
    show_default=True,
    type=click.Choice(["table", "json", "sarif", "html"]),
    help="The report's format.",
)
@click.option("--output", "-o", metavar="FILE", help="Write the report to this file.")
@click.option(
    "--fail-on",
    default="high",
    show_default=True,
    metavar="SEVERITY",
    help="Exit 1 when a finding is at least this severe (or 'none').",
)
def audit(
    base_url: str,
    openapi: str | None,
    users: tuple[str, ...],
    roles: str | None,
    max_requests: int,
    max_time: float,
    allow_writes: bool,
    allow_hosts: tuple[str, ...],
    exclude: tuple[str, ...],
    safe: bool,
    declaration: str | None,
    report_format: str,
    output: str | None,
    fail_on: str,
) -> None:
    """Audit a running HTTP API against the OWASP API Top 10 and a senior engineer's checklist."""
    from ..extras import MissingExtra, require

    try:
        require("audit", "backforge audit")
    except MissingExtra as exc:  # exit 1 means findings: a missing install is an error
        click.echo(str(exc), err=True)
        raise SystemExit(EXIT_ERROR) from None
    from rich.console import Console

    from .auth import CredentialsError, load_roles, parse_user
    from .client import AuditError
    from .findings import Severity
    from .progress import RichAuditProgress
    from .report import RENDERERS
    from .runner import run_audit

    err = Console(stderr=True)
    try:
        if fail_on.lower() != "none":
            Severity.parse(fail_on)
        report = run_audit(
            base_url,
            openapi=openapi,
            users=[parse_user(u) for u in users],
            roles=load_roles(roles),
            max_requests=max_requests,
            max_time=max_time,
            allow_writes=allow_writes,
            allow_hosts=list(allow_hosts),
            declaration=declaration,
            exclude=list(exclude),
            safe=safe,
            progress=RichAuditProgress(err) if err.is_terminal else None,
        )
    except (AuditError, CredentialsError, ValueError, OSError) as exc:
        err.print(f"[red]error:[/] {exc}")
        raise SystemExit(EXIT_ERROR) from None
    text = RENDERERS[report_format](report)
    if output:
        Path(output).write_text(text)
        err.print(f"report written to {output}")
        if report_format != "table":
            err.print(RENDERERS["table"](report))
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    code = exit_code([f.severity for f in report.findings], fail_on)
    if code:
        raise SystemExit(code)
