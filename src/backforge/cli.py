"""The `backforge` command."""

from __future__ import annotations

import io
import json
import os
import re
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import __version__
from .spec import DeclarationError, Spec
from .spec.loader import Positions, locate

app = typer.Typer(
    name="backforge",
    help="A backend developer in a box: one YAML declaration becomes a secure REST API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
migrate_app = typer.Typer(help="Plan, review and apply database migrations.", no_args_is_help=True)
app.add_typer(migrate_app, name="migrate")
rules_app = typer.Typer(help="Inspect access rules.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")
console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)

# Shorter admin tokens are warned of outside development (a guessable token is full access).
MIN_ADMIN_TOKEN = 24
DeclarationArg = Annotated[Path, typer.Argument(help="The declaration file (YAML).")]


class LogFormat(StrEnum):
    json = "json"
    console = "console"


def _load(path: Path, user_code: bool = False) -> Spec:
    return _load_located(path, user_code)[0]


def _load_located(path: Path, user_code: bool = False) -> tuple[Spec, Positions]:
    """`user_code`: also import the hooks file (check, serve), which runs its code."""
    from .checks import load_checked

    try:
        return load_checked(path, user_code)
    except DeclarationError as exc:
        _report_problems(exc)
        raise typer.Exit(1) from None


def _report_problems(exc: DeclarationError) -> None:
    for problem in exc.problems:
        colour = "red" if problem.severity == "error" else "yellow"
        errors.print(
            f"[{colour}]{escape(problem.format(exc.filename))}[/{colour}]", highlight=False
        )
    count = sum(p.severity == "error" for p in exc.problems)
    errors.print(f"[bold red]{count} error(s)[/bold red] in {exc.filename}")


def _engine(path: Path, spec: Spec):
    from .database import create_database_engine, database_url

    return create_database_engine(database_url(path, spec.name))


def _fix_command(path: Path) -> str:
    from .schema.migrations import FIX_COMMAND

    return escape(FIX_COMMAND.replace("FILE", str(path)))


def _migrations_dir(path: Path) -> Path:
    return path.resolve().parent / "migrations"


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        console.print(f"backforge {__version__}")
        raise typer.Exit(0)


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Where to create the project.")] = Path("."),
) -> None:
    """Create a starter declaration (backforge.yaml) in DIRECTORY."""
    from importlib.resources import files

    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "backforge.yaml"
    if target.exists():
        errors.print(f"[red]{target} already exists; nothing was changed[/red]")
        raise typer.Exit(1)
    starter = (files("backforge") / "starter.yaml").read_text(encoding="utf-8")
    # Named after its folder (letters, digits, - and _), as a new project's name would be.
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", directory.resolve().name).strip("-_")
    if not name or not name[0].isalpha():
        name = "app"
    target.write_text(starter.replace("\nname: notes\n", f"\nname: {name[:63]}\n", 1))
    console.print(f"[green]created[/green] {target}")
    import secrets

    token = secrets.token_urlsafe(24)
    console.print(
        f"next: [bold]BACKFORGE_ADMIN_TOKEN={token} backforge serve {target} --dev[/bold]"
        " (the token writes as an admin; the file says who else may)"
    )


@app.command()
def check(path: DeclarationArg) -> None:
    """Validate and lint a declaration; exit non-zero on errors."""
    from .spec.lint import lint

    spec, positions = _load_located(path, user_code=True)
    warnings = locate(lint(spec), positions)
    for problem in warnings:
        errors.print(f"[yellow]{escape(problem.format(str(path)))}[/yellow]", highlight=False)
    own = [n for n, c in spec.collections.items() if c.link_of is None]
    table = Table(title=f"{spec.name}: {len(own)} collection(s)")
    for column in ("collection", "fields", "rules"):
        table.add_column(column)
    for name, collection in spec.collections.items():
        if collection.link_of is not None:
            continue
        declared = [
            op
            for op in ("list", "view", "create", "update", "delete")
            if getattr(collection.rules, op) is not None
        ]
        table.add_row(name, ", ".join(collection.fields), ", ".join(declared) or "admins only")
    console.print(table)
    from .schema.tables import cyclic_relations

    cycle = sorted(f"{c}.{f}" for c, f in cyclic_relations(spec))
    if cycle:
        console.print(
            f"note: {', '.join(cycle)} refer to collections that refer back; their foreign keys "
            "are added once all those tables exist (in CREATE TABLE on SQLite)",
            highlight=False,
            markup=False,
        )
    console.print(f"[green]ok[/green] — {len(warnings)} warning(s)")


@migrate_app.command("plan")
def migrate_plan(
    path: DeclarationArg,
    allow_destructive: Annotated[
        bool, typer.Option(help="Allow dropping columns/tables and narrowing types.")
    ] = False,
    name: Annotated[str | None, typer.Option(help="A short name for the migration file.")] = None,
) -> None:
    """Compare the database with the declaration and write a migration plan to review."""
    from .schema.migrations import MigrationError, plan_migration

    spec = _load(path)
    try:
        plan = plan_migration(
            _engine(path, spec),
            spec,
            _migrations_dir(path),
            allow_destructive=allow_destructive,
            name=name,
        )
    except MigrationError as exc:
        errors.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(1) from None
    if plan is None:
        console.print("[green]the database matches the declaration; nothing to plan[/green]")
        return
    console.print(f"[green]wrote[/green] {plan.path}")
    console.print(plan.path.read_text(encoding="utf-8"), highlight=False, markup=False)
    console.print(f"review it, then: [bold]backforge migrate apply {path}[/bold]")


@migrate_app.command("apply")
def migrate_apply(path: DeclarationArg) -> None:
    """Apply the pending migration plans, in order, each in a transaction."""
    from rich.progress import Progress

    from .schema.migrations import MigrationError, apply_migrations

    spec = _load(path)
    try:
        with Progress(console=console, transient=True) as progress:
            progress.add_task("applying migrations", total=None)
            applied = apply_migrations(_engine(path, spec), _migrations_dir(path))
    except MigrationError as exc:
        errors.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(1) from None
    for name in applied:
        console.print(f"[green]applied[/green] {name}")
    if not applied:
        console.print("nothing to apply")


@migrate_app.command("status")
def migrate_status(path: DeclarationArg) -> None:
    """Show applied and pending migrations, and changes not yet planned."""
    from .schema.migrations import migration_status

    spec = _load(path)
    status = migration_status(_engine(path, spec), spec, _migrations_dir(path))
    table = Table(title="migrations")
    table.add_column("name")
    table.add_column("state")
    for migration in status.applied:
        table.add_row(migration.name, "[green]applied[/green]")
    for name in status.pending:
        table.add_row(name, "[yellow]pending[/yellow]")
    console.print(table)
    if status.drift:
        console.print("[yellow]declared but not yet planned:[/yellow]")
        for change in status.drift:
            console.print(f"  - {change}", highlight=False, markup=False)
        console.print(f"run: [bold]backforge migrate plan {path}[/bold]")
    elif not status.pending:
        console.print("[green]the database is up to date[/green]")


@app.command()
def serve(
    path: DeclarationArg,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    dev: Annotated[
        bool,
        typer.Option(
            help="Development: apply non-destructive schema changes, and reload when the "
            "declaration, hooks or templates change."
        ),
    ] = False,
    reload: Annotated[
        bool | None,
        typer.Option(help="Restart on changes beside the declaration (default: with --dev)."),
    ] = None,
    log_format: Annotated[
        LogFormat | None,
        typer.Option(help="JSON lines or coloured text (default: json; console with --dev)."),
    ] = None,
) -> None:
    """Serve the REST API of a declaration."""
    from .config import load_config
    from .schema.migrations import MigrationError, auto_apply, pending_changes, summarize
    from .server import DECLARATION_VARIABLE, DEV_VARIABLE, RELOAD_VARIABLE

    spec = _load(path, user_code=True)
    engine = _engine(path, spec)
    try:
        if dev:
            line = summarize(auto_apply(engine, spec))
            if line:
                console.print(line, highlight=False, markup=False)
        pending = pending_changes(engine, spec)
    except MigrationError as exc:
        errors.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    if pending:
        errors.print("[red]the database is behind the declaration:[/red]")
        for change in pending:
            errors.print(f"  - {change}", highlight=False, markup=False)
        errors.print(
            f"fix: [bold]{_fix_command(path)}[/bold]"
            f" (or, in development, [bold]backforge serve {path} --dev[/bold])"
        )
        raise typer.Exit(2)
    if log_format is not None:
        os.environ["BACKFORGE_LOG__FORMAT"] = log_format.value
    elif dev:
        os.environ.setdefault("BACKFORGE_LOG__FORMAT", "console")
    try:
        config = load_config(spec.server)
    except ValueError as exc:
        errors.print(f"[red]invalid server settings in the environment:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None
    os.environ[DECLARATION_VARIABLE] = str(path.resolve())
    reload = dev if reload is None else reload
    if reload:
        os.environ[RELOAD_VARIABLE] = "1"
        if dev:
            os.environ[DEV_VARIABLE] = "1"
        if workers > 1:
            errors.print("[yellow]reloading on changes serves with one worker[/yellow]")
    _share_signing_key(spec)
    _print_panel(spec, path, host, port, reload)
    _exec_server(host, port, workers, int(config.shutdown_timeout), config.forwarded_allow_ips)


def _print_panel(spec: Spec, path: Path, host: str, port: int, reload: bool) -> None:
    """Where everything is, once, before the server starts."""
    base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"  # noqa: S104
    own = [n for n, c in spec.collections.items() if c.link_of is None]
    token = os.environ.get("BACKFORGE_ADMIN_TOKEN", "")
    admin = "BACKFORGE_ADMIN_TOKEN is set"
    if not token:
        admin = "none: set BACKFORGE_ADMIN_TOKEN for an admin bearer token"
    elif len(token) < MIN_ADMIN_TOKEN and not reload:
        errors.print(
            f"[yellow]BACKFORGE_ADMIN_TOKEN has {len(token)} characters: anyone who guesses it "
            f"is an admin; use {MIN_ADMIN_TOKEN} or more random ones[/yellow]"
        )
    rows = [
        ("API", f"{base}/api"),
        ("docs", f"{base}/docs"),
        ("OpenAPI", f"{base}/api/openapi.json"),
        ("health", f"{base}/healthz"),
        ("admin", admin),
    ]
    if reload:
        rows.append(("reload", f"on changes in {path.resolve().parent}"))
    if spec.jobs or spec.cron or spec.webhooks:
        rows.append(("jobs", f"run by `backforge worker {path}` (queued until one runs)"))
    console.print(
        f"[bold]{escape(spec.name)}[/bold] — {len(own)} collection(s), serving on {base}",
        highlight=False,
    )
    for label, value in rows:
        console.print(f"  {label:<8} {escape(value)}", highlight=False)


def _exec_server(
    host: str, port: int, workers: int, shutdown_timeout: int, forwarded_allow_ips: list[str]
) -> None:
    """Replace this process with the server (`backforge.server.main`).

    A fresh interpreter holds only what serving needs, not the CLI, the migration planner and
    the checks that ran above (about a third of the memory of a worker). The process id stays
    the same, so signals sent to `backforge serve` reach the server. `-P` keeps the working
    directory off the module path, as it is for the `backforge` script.
    """
    argv = [sys.executable, "-P", "-m", "backforge.server"]
    argv += [host, str(port), str(workers), str(shutdown_timeout), ",".join(forwarded_allow_ips)]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)  # noqa: S606 -- our own interpreter, fixed arguments


@app.command()
def worker(
    path: DeclarationArg,
    threads: Annotated[int, typer.Option(min=1, help="Jobs run at once in this process.")] = 2,
    dev: Annotated[
        bool, typer.Option(help="Apply non-destructive schema changes automatically.")
    ] = False,
) -> None:
    """Run the declaration's background jobs, cron schedules and webhook deliveries."""
    import logging

    from .app import App
    from .jobs.handlers import HandlerError
    from .jobs.queue import storage_kind
    from .schema.migrations import MigrationError, pending_changes

    spec = _load(path)
    if not (spec.jobs or spec.cron or spec.webhooks):
        errors.print(f"[yellow]{path} declares no jobs, cron or webhooks; nothing to run[/yellow]")
        raise typer.Exit(1)
    try:
        application = App.from_file(path, auto_migrate=dev)
        pending = pending_changes(application.engine, spec)
    except (MigrationError, DeclarationError) as exc:
        errors.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(1) from None
    if pending:
        errors.print("[red]the database is behind the declaration:[/red]")
        for change in pending:
            errors.print(f"  - {change}", highlight=False, markup=False)
        errors.print(f"fix: [bold]{_fix_command(path)}[/bold]")
        raise typer.Exit(2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    jobs = application.jobs
    assert jobs is not None
    console.print(
        f"worker for [bold]{spec.name}[/bold]: {len(spec.jobs)} job(s), {len(spec.cron)} cron, "
        f"{len(spec.webhooks)} webhook(s); queue on {storage_kind(jobs.huey)}"
    )
    try:
        jobs.run_worker(threads)
    except HandlerError as exc:
        errors.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(1) from None


@rules_app.command("explain")
def rules_explain(
    path: DeclarationArg,
    collection: Annotated[str, typer.Option(help="The collection.")],
    operation: Annotated[str, typer.Option(help="list, view, create, update or delete.")] = "view",
    record: Annotated[str | None, typer.Option(help="A record id to judge.")] = None,
    caller: Annotated[
        str | None, typer.Option(help="The caller's account id (none: anonymous).")
    ] = None,
    caller_collection: Annotated[
        str | None, typer.Option(help="The caller's auth collection.")
    ] = None,
) -> None:
    """Explain which rule admits or refuses a caller on a record, and why."""
    from .store.errors import InvalidQuery
    from .store.explain import caller_from_database, explain
    from .store.records import RecordStore

    if operation not in ("list", "view", "create", "update", "delete"):
        errors.print("[red]--operation is one of list, view, create, update, delete[/red]")
        raise typer.Exit(2)
    spec = _load(path)
    store = RecordStore(spec, _engine(path, spec))
    try:
        who = caller_from_database(store, caller_collection, caller)
        verdict = explain(store, collection, operation, who, record)  # type: ignore[arg-type]
    except InvalidQuery as exc:
        errors.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from None
    console.print(
        f"rule ({collection}.{operation}): [bold]{verdict['rule']}[/bold]", highlight=False
    )
    for part in verdict.get("parts", []):
        mark = {True: "[green]yes[/green]", False: "[red]no[/red]", None: "[yellow]?[/yellow]"}
        console.print(f"  {mark[part['result']]}  {part['expression']}", highlight=False)
    colour = "green" if verdict["admitted"] else "red"
    console.print(f"[{colour}]{verdict['reason']}[/{colour}]")


def _share_signing_key(spec: Spec) -> None:
    """Without a configured key, make one for this run, shared by every worker process."""
    import secrets

    from .auth.tokens import KeyRing

    has_auth = any(c.auth_options is not None for c in spec.collections.values())
    if has_auth and KeyRing.from_environment() is None:
        os.environ["BACKFORGE_JWT_SECRET"] = secrets.token_urlsafe(48)
        errors.print(
            "[yellow]no BACKFORGE_JWT_SECRET set: tokens are signed with a key made for this run "
            "and end when the server stops[/yellow]"
        )


@app.command()
def openapi(
    path: DeclarationArg,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to a file.")] = None,
) -> None:
    """Print the OpenAPI 3.1 document of a declaration (its custom endpoints too)."""
    from .http.openapi import build_openapi
    from .user_code import load_hooks_module

    spec = _load(path)
    try:
        endpoints = getattr(load_hooks_module(spec, path), "endpoints", None)
    except DeclarationError as exc:
        _report_problems(exc)
        raise typer.Exit(1) from None
    text = json.dumps(build_openapi(spec, endpoints), indent=2)
    if output:
        output.write_text(text + "\n", encoding="utf-8")
        console.print(f"[green]wrote[/green] {output}")
    else:
        sys.stdout.write(text + "\n")


@app.command()
def schema(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to a file.")] = None,
) -> None:
    """Print the JSON Schema of the declaration format (for editors)."""
    from .spec.json_schema import declaration_json_schema

    text = json.dumps(declaration_json_schema(), indent=2)
    if output:
        output.write_text(text + "\n", encoding="utf-8")
        console.print(f"[green]wrote[/green] {output}")
    else:
        sys.stdout.write(text + "\n")


import_app = typer.Typer(help="Draft a declaration from another description of an API.")
app.add_typer(import_app, name="import")


@import_app.command("openapi")
def import_openapi(
    document: Annotated[Path, typer.Argument(help="An OpenAPI 3 document (JSON or YAML).")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the draft to a file.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="The declaration's name.")] = None,
) -> None:
    """Draft a declaration with routes from an OpenAPI document; list what it could not map."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    from .importer.openapi import draft_from_openapi

    try:
        loaded = YAML(typ="safe").load(document.read_text(encoding="utf-8"))
    except (OSError, YAMLError) as exc:
        errors.print(f"[red]{document}: cannot read an OpenAPI document: {exc}[/red]")
        raise typer.Exit(1) from None
    if not isinstance(loaded, dict) or not str(loaded.get("openapi", "")).startswith("3"):
        errors.print(f"[red]{document}: not an OpenAPI 3 document (no 'openapi: 3.x')[/red]")
        raise typer.Exit(1)
    try:
        draft = draft_from_openapi(loaded, name or document.stem)
    except DeclarationError as exc:  # a problem no route, field or shape entry explains
        _report_problems(exc)
        raise typer.Exit(1) from None
    header = ["# Drafted by `backforge import openapi` from " + document.name + ": review it."]
    if draft.unmapped:
        header.append("# Not mapped (decide, then delete these lines):")
        header += [f"#   - {line}" for line in draft.unmapped]
    stream = io.StringIO()
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 100
    yaml.dump(draft.declaration, stream)
    text = "\n".join(header) + "\n" + stream.getvalue()
    if output:
        output.write_text(text, encoding="utf-8")
        console.print(f"[green]wrote[/green] {output} — {len(draft.unmapped)} part(s) not mapped")
    else:
        sys.stdout.write(text)
    for line in draft.unmapped:
        errors.print(f"[yellow]not mapped:[/yellow] {escape(line)}", highlight=False)


def _register_audit() -> None:
    from .audit.command import audit

    app.command("audit", help="Audit a running API against the senior engineer's checklist.")(audit)


_register_audit()


def main() -> None:
    from .extras import MissingExtra

    try:
        app()
    except MissingExtra as exc:  # e.g. DATABASE_URL names PostgreSQL, the driver is absent
        errors.print(f"[red]{escape(str(exc))}[/red]")
        raise SystemExit(1) from None
