"""The `backforge audit` command. Register it with `app.command("audit")(audit)`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

from .auth import CredentialsError, load_roles, parse_user
from .client import AuditError, Exchange
from .findings import Severity
from .report import RENDERERS
from .runner import Progress, run_audit

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class RichAuditProgress(Progress):
    """A progress bar on stderr: checks done, the current check, requests sent."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bar = RichProgress(
            TextColumn("[bold]audit[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[check]}"),
            TextColumn("[dim]{task.fields[requests]} requests[/]"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task = None
        self.requests = 0

    def start(self, total_checks: int, max_requests: int) -> None:
        self.bar.start()
        self.task = self.bar.add_task("audit", total=total_checks, check="", requests=0)

    def check(self, name: str) -> None:
        if self.task is not None:
            if self.bar.tasks[0].fields["check"]:
                self.bar.advance(self.task)
            self.bar.update(self.task, check=name)

    def request(self, exchange: Exchange) -> None:
        self.requests += 1
        if self.task is not None:
            self.bar.update(self.task, requests=self.requests)

    def stop(self) -> None:
        self.bar.stop()


def exit_code(severities: list[Severity], fail_on: str) -> int:
    if fail_on.lower() == "none":
        return EXIT_OK
    threshold = Severity.parse(fail_on)
    return EXIT_FINDINGS if any(s >= threshold for s in severities) else EXIT_OK


def audit(
    base_url: Annotated[
        str,
        typer.Argument(
            metavar="BASE_URL", help="Base URL of the running API, e.g. http://127.0.0.1:8000"
        ),
    ],
    openapi: Annotated[
        str | None,
        typer.Option(
            "--openapi",
            metavar="URL|FILE",
            help="URL or file of the OpenAPI document (found if omitted).",
        ),
    ] = None,
    user: Annotated[
        list[str] | None,
        typer.Option(
            "--user",
            metavar="NAME=CREDENTIALS",
            help="NAME=CREDENTIALS: bearer:TOKEN, basic:USER:PASS, apikey:KEY, login:USER:PASS, "
            "cookie:NAME=VALUE, wfc:FILE (Web Fuzzing Commons auth file). Repeatable.",
        ),
    ] = None,
    roles: Annotated[
        str | None,
        typer.Option(
            "--roles",
            metavar="FILE",
            help="YAML/JSON role map: {users: {NAME: ROLE}, operations: {'GET /x': [ROLE]}}.",
        ),
    ] = None,
    max_requests: Annotated[
        int, typer.Option("--max-requests", metavar="N", help="Stop after this many requests.")
    ] = 3000,
    max_time: Annotated[
        float, typer.Option("--max-time", metavar="SECONDS", help="Stop after this many seconds.")
    ] = 300.0,
    allow_writes: Annotated[
        bool,
        typer.Option(
            "--allow-writes",
            help="Also send DELETE and updates to objects the audit did not create.",
        ),
    ] = False,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-host",
            metavar="HOST",
            help="A non-loopback host you own and may audit. Repeatable.",
        ),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude",
            metavar="'METHOD PATH-GLOB'",
            help="Never request these operations, e.g. 'DELETE /api/accounts/*' or "
            "'* /api/admin/*'. Repeatable.",
        ),
    ] = None,
    declaration: Annotated[
        str | None,
        typer.Option(
            "--declaration",
            metavar="FILE",
            help="The backforge declaration of the target: lint it too.",
        ),
    ] = None,
    format: Annotated[
        str, typer.Option("--format", metavar="FORMAT", help="table, json, sarif or html.")
    ] = "table",
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write the report to this file."),
    ] = None,
    fail_on: Annotated[
        str,
        typer.Option(
            "--fail-on",
            metavar="SEVERITY",
            help="Exit 1 when a finding is at least this severe (or 'none').",
        ),
    ] = "high",
) -> int:
    """Audit a running HTTP API against the OWASP API Top 10 and a senior engineer's checklist."""
    err = Console(stderr=True)
    if format not in RENDERERS:
        err.print(f"[red]error:[/] --format must be one of {', '.join(RENDERERS)}")
        raise typer.Exit(EXIT_ERROR)
    try:
        if fail_on.lower() != "none":
            Severity.parse(fail_on)
        specs = [parse_user(u) for u in user or []]
        role_map = load_roles(roles)
        report = run_audit(
            base_url,
            openapi=openapi,
            users=specs,
            roles=role_map,
            max_requests=max_requests,
            max_time=max_time,
            allow_writes=allow_writes,
            allow_hosts=allow_host or [],
            declaration=declaration,
            exclude=exclude or [],
            progress=RichAuditProgress(err) if err.is_terminal else None,
        )
    except (AuditError, CredentialsError, ValueError, OSError) as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(EXIT_ERROR) from None
    text = RENDERERS[format](report)
    if output:
        Path(output).write_text(text)
        err.print(f"report written to {output}")
        if format != "table":
            err.print(RENDERERS["table"](report))
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    code = exit_code([f.severity for f in report.findings], fail_on)
    if code:
        raise typer.Exit(code)
    return code
