"""The `backforge` command."""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from . import __version__
from .spec import DeclarationError, Spec
from .spec.loader import Positions, locate
from .terminal import bold, green, red, say, table, yellow

if TYPE_CHECKING:
    from sqlalchemy import Engine


@click.group(
    name="backforge",
    help="A backend developer in a box: one YAML declaration becomes a secure REST API.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, message="backforge %(version)s")
def app() -> None:
    pass


@app.group("migrate", no_args_is_help=True)
def migrate_app() -> None:
    """Plan, review and apply database migrations."""


@app.group("rules", no_args_is_help=True)
def rules_app() -> None:
    """Inspect access rules."""


@app.group("files", no_args_is_help=True)
def files_app() -> None:
    """Stored files of file fields."""


@app.group("import", no_args_is_help=True)
def import_app() -> None:
    """Draft a declaration from another description of an API."""


# Shorter admin tokens are warned of outside development (a guessable token is full access).
MIN_ADMIN_TOKEN = 24
declaration_argument = click.argument(
    "path", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path)
)
output_option = click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file."
)


def _fail(message: str, code: int = 1) -> SystemExit:
    say(red(message), err=True)
    return SystemExit(code)


def _load(path: Path, user_code: bool = False) -> Spec:
    return _load_located(path, user_code)[0]


def _load_located(path: Path, user_code: bool = False) -> tuple[Spec, Positions]:
    """`user_code`: also import the hooks file (check, serve), which runs its code."""
    from .checks import load_checked

    try:
        return load_checked(path, user_code)
    except DeclarationError as exc:
        _report_problems(exc)
        raise SystemExit(1) from None


def _report_problems(exc: DeclarationError) -> None:
    for problem in exc.problems:
        colour = red if problem.severity == "error" else yellow
        say(colour(problem.format(exc.filename)), err=True)
    count = sum(p.severity == "error" for p in exc.problems)
    say(f"{click.style(f'{count} error(s)', fg='red', bold=True)} in {exc.filename}", err=True)


def _engine(path: Path, spec: Spec) -> Engine:
    from .database import declaration_engine

    return declaration_engine(path, spec.name)


def _fix_command(path: Path) -> str:
    from .schema.migrations import FIX_COMMAND

    return FIX_COMMAND.replace("FILE", str(path))


def _migrations_dir(path: Path) -> Path:
    return path.resolve().parent / "migrations"


def _blueprint_names() -> list[str]:
    from .blueprints import blueprint_names

    return blueprint_names()


@app.command()
@click.argument(
    "directory", required=False, default=".", type=click.Path(file_okay=False, path_type=Path)
)
@click.option(
    "--blueprint",
    type=click.Choice(_blueprint_names()),
    help="A complete starting point instead of the one-collection starter.",
)
def init(directory: Path, blueprint: str | None) -> None:
    """Create a starter declaration (backforge.yaml) in DIRECTORY, or a blueprint's files."""
    from importlib.resources import files

    from .blueprints import write_blueprint

    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "backforge.yaml"
    # Named after its folder (letters, digits, - and _), as a new project's name would be.
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", directory.resolve().name).strip("-_")
    if not name or not name[0].isalpha():
        name = "app"
    if blueprint is not None:
        try:
            written = write_blueprint(blueprint, directory, name[:63])
        except FileExistsError as exc:
            raise _fail(f"already there: {exc}; nothing was changed") from None
    elif target.exists():
        raise _fail(f"{target} already exists; nothing was changed")
    else:
        starter = (files("backforge") / "starter.yaml").read_text(encoding="utf-8")
        target.write_text(starter.replace("\nname: notes\n", f"\nname: {name[:63]}\n", 1))
        written = [target]
    for path in written:
        say(f"{green('created')} {path}")
    import secrets

    token = secrets.token_urlsafe(24)
    say(
        "next: "
        + bold(f"BACKFORGE_ADMIN_TOKEN={token} backforge serve {target} --dev")
        + " (the token writes as an admin; the file says who else may)"
    )


@app.command()
@declaration_argument
def check(path: Path) -> None:
    """Validate and lint a declaration; exit non-zero on errors."""
    from .schema.tables import cyclic_relations
    from .spec.lint import lint

    spec, positions = _load_located(path, user_code=True)
    warnings = locate(lint(spec), positions)
    for problem in warnings:
        say(yellow(problem.format(str(path))), err=True)
    rows = []
    for name, collection in spec.collections.items():
        if collection.link_of is not None:
            continue
        declared = ", ".join(collection.rules.declared()) or "admins only"
        rows.append((name, ", ".join(collection.fields), declared))
    say(table(f"{spec.name}: {len(rows)} collection(s)", ("collection", "fields", "rules"), rows))
    cycle = sorted(f"{c}.{f}" for c, f in cyclic_relations(spec))
    if cycle:
        say(
            f"note: {', '.join(cycle)} refer to collections that refer back; their foreign keys "
            "are added once all those tables exist (in CREATE TABLE on SQLite)"
        )
    say(f"{green('ok')} — {len(warnings)} warning(s)")


@migrate_app.command("plan")
@declaration_argument
@click.option(
    "--allow-destructive", is_flag=True, help="Allow dropping columns/tables and narrowing types."
)
@click.option("--name", help="A short name for the migration file.")
def migrate_plan(path: Path, allow_destructive: bool, name: str | None) -> None:
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
        raise _fail(str(exc)) from None
    if plan is None:
        say(green("the database matches the declaration; nothing to plan"))
        return
    say(f"{green('wrote')} {plan.path}")
    say(plan.path.read_text(encoding="utf-8"))
    say(f"review it, then: {bold(f'backforge migrate apply {path}')}")


@migrate_app.command("apply")
@declaration_argument
def migrate_apply(path: Path) -> None:
    """Apply the pending migration plans, in order, each in a transaction."""
    from .schema.migrations import MigrationError, apply_migrations

    spec = _load(path)
    try:
        applied = apply_migrations(_engine(path, spec), _migrations_dir(path))
    except MigrationError as exc:
        raise _fail(str(exc)) from None
    for name in applied:
        say(f"{green('applied')} {name}")
    if not applied:
        say("nothing to apply")


@migrate_app.command("status")
@declaration_argument
def migrate_status(path: Path) -> None:
    """Show applied and pending migrations, and changes not yet planned."""
    from .schema.migrations import migration_status

    spec = _load(path)
    status = migration_status(_engine(path, spec), spec, _migrations_dir(path))
    rows = [(m.name, green("applied")) for m in status.applied]
    rows += [(name, yellow("pending")) for name in status.pending]
    say(table("migrations", ("name", "state"), rows))
    if status.drift:
        say(yellow("declared but not yet planned:"))
        for change in status.drift:
            say(f"  - {change}")
        say(f"run: {bold(f'backforge migrate plan {path}')}")
    elif not status.pending:
        say(green("the database is up to date"))


@app.command()
@declaration_argument
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, help="Port to listen on.")
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(min=1), help="Worker processes."
)
@click.option(
    "--dev/--no-dev",
    default=False,
    help="Development: apply non-destructive schema changes, and reload when the declaration, "
    "hooks or templates change.",
)
@click.option(
    "--reload/--no-reload",
    default=None,
    help="Restart on changes beside the declaration (default: with --dev).",
)
@click.option(
    "--log-format",
    type=click.Choice(["json", "console"]),
    help="JSON lines or coloured text (default: json; console with --dev).",
)
def serve(
    path: Path,
    host: str,
    port: int,
    workers: int,
    dev: bool,
    reload: bool | None,
    log_format: str | None,
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
                say(f"migrated: {line}")
        pending = pending_changes(engine, spec)
    except MigrationError as exc:
        raise _fail(str(exc)) from None
    finally:
        engine.dispose()
    if pending:
        say(red("the database is behind the declaration:"), err=True)
        for change in pending:
            say(f"  - {change}", err=True)
        say(
            f"fix: {bold(_fix_command(path))} (or, in development, "
            f"{bold(f'backforge serve {path} --dev')})",
            err=True,
        )
        raise SystemExit(2)
    if log_format is not None:
        os.environ["BACKFORGE_LOG__FORMAT"] = log_format
    elif dev:
        os.environ.setdefault("BACKFORGE_LOG__FORMAT", "console")
    try:
        config = load_config(spec.server)
    except ValueError as exc:
        raise _fail(f"invalid server settings in the environment: {exc}") from None
    os.environ[DECLARATION_VARIABLE] = str(path.resolve())
    reload = dev if reload is None else reload
    if reload:
        os.environ[RELOAD_VARIABLE] = "1"
        if dev:
            os.environ[DEV_VARIABLE] = "1"
        if workers > 1:
            say(yellow("reloading on changes serves with one worker"), err=True)
    if workers > 1 and not reload and config.redis is None:
        say(
            yellow(
                f"{workers} workers without REDIS_URL: a realtime stream hears only of the writes "
                "its own worker answers (set REDIS_URL to carry them between processes)"
            ),
            err=True,
        )
    _share_signing_key(spec)
    _print_panel(spec, path, host, port, reload)
    _exec_server(host, port, workers, int(config.shutdown_timeout), config.forwarded_allow_ips)


def _print_panel(spec: Spec, path: Path, host: str, port: int, reload: bool) -> None:
    """Where everything is, once, before the server starts."""
    base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"  # noqa: S104
    own = [n for n, c in spec.collections.items() if c.link_of is None]
    # A URL that answers: the first collection served under /api/<name> (GET /api is no page).
    served = next((n for n in own if spec.collections[n].record_routes), None)
    token = os.environ.get("BACKFORGE_ADMIN_TOKEN", "")
    admin = "BACKFORGE_ADMIN_TOKEN is set"
    if not token:
        admin = "none: set BACKFORGE_ADMIN_TOKEN for an admin bearer token"
    elif len(token) < MIN_ADMIN_TOKEN and not reload:
        say(
            yellow(
                f"BACKFORGE_ADMIN_TOKEN has {len(token)} characters: anyone who guesses it is an "
                f"admin; use {MIN_ADMIN_TOKEN} or more random ones"
            ),
            err=True,
        )
    rows = [
        ("API", f"{base}/api/{served}" if served else base),
        ("docs", f"{base}/docs"),
        ("OpenAPI", f"{base}/api/openapi.json"),
        ("health", f"{base}/healthz"),
        ("admin", admin),
    ]
    if reload:
        rows.append(("reload", f"on changes in {path.resolve().parent}"))
    if spec.jobs or spec.cron or spec.webhooks:
        rows.append(("jobs", f"run by `backforge worker {path}` (queued until one runs)"))
    say(f"{bold(spec.name)} — {len(own)} collection(s), serving on {base}")
    for label, value in rows:
        say(f"  {label:<8} {value}")


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
@declaration_argument
@click.option(
    "--threads",
    default=2,
    show_default=True,
    type=click.IntRange(min=1),
    help="Jobs run at once in this process.",
)
@click.option(
    "--dev/--no-dev", default=False, help="Apply non-destructive schema changes automatically."
)
def worker(path: Path, threads: int, dev: bool) -> None:
    """Run the declaration's background jobs, cron schedules and webhook deliveries."""
    import logging

    from .app import App
    from .jobs.handlers import HandlerError
    from .jobs.queue import storage_kind
    from .schema.migrations import MigrationError, pending_changes

    spec = _load(path)
    if not (spec.jobs or spec.cron or spec.webhooks):
        say(yellow(f"{path} declares no jobs, cron or webhooks; nothing to run"), err=True)
        raise SystemExit(1)
    try:
        application = App.from_file(path, auto_migrate=dev)
        pending = pending_changes(application.engine, spec)
    except (MigrationError, DeclarationError) as exc:
        raise _fail(str(exc)) from None
    if pending:
        say(red("the database is behind the declaration:"), err=True)
        for change in pending:
            say(f"  - {change}", err=True)
        say(f"fix: {bold(_fix_command(path))}", err=True)
        raise SystemExit(2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    jobs = application.jobs
    assert jobs is not None
    say(
        f"worker for {bold(spec.name)}: {len(spec.jobs)} job(s), {len(spec.cron)} cron, "
        f"{len(spec.webhooks)} webhook(s); queue on {storage_kind(jobs.huey)}"
    )
    try:
        jobs.run_worker(threads)
    except HandlerError as exc:
        raise _fail(str(exc)) from None


@rules_app.command("explain")
@declaration_argument
@click.option("--collection", required=True, help="The collection.")
@click.option(
    "--operation",
    default="view",
    show_default=True,
    type=click.Choice(["list", "view", "create", "update", "delete"]),
)
@click.option("--record", help="A record id to judge.")
@click.option("--caller", help="The caller's account id (none: anonymous).")
@click.option("--caller-collection", help="The caller's auth collection.")
def rules_explain(
    path: Path,
    collection: str,
    operation: str,
    record: str | None,
    caller: str | None,
    caller_collection: str | None,
) -> None:
    """Explain which rule admits or refuses a caller on a record, and why."""
    from .store.errors import InvalidQuery
    from .store.explain import caller_from_database, explain
    from .store.records import RecordStore

    spec = _load(path)
    store = RecordStore(spec, _engine(path, spec))
    try:
        who = caller_from_database(store, caller_collection, caller)
        verdict = explain(store, collection, operation, who, record)  # type: ignore[arg-type]
    except InvalidQuery as exc:
        raise _fail(exc.detail) from None
    say(f"rule ({collection}.{operation}): {bold(str(verdict['rule']))}")
    marks = {True: green("yes"), False: red("no"), None: yellow("?")}
    for part in verdict.get("parts", []):
        say(f"  {marks[part['result']]}  {part['expression']}")
    colour = green if verdict["admitted"] else red
    say(colour(verdict["reason"]))


def _share_signing_key(spec: Spec) -> None:
    """Without a configured key, make one for this run, shared by every worker process."""
    import secrets

    from .auth.tokens import KeyRing

    has_auth = any(c.auth_options is not None for c in spec.collections.values())
    has_files = any(f.type == "file" for c in spec.collections.values() for f in c.fields.values())
    if (has_auth or has_files) and KeyRing.from_environment() is None:
        os.environ["BACKFORGE_JWT_SECRET"] = secrets.token_urlsafe(48)
        say(
            yellow(
                "no BACKFORGE_JWT_SECRET set: tokens and file links are signed with a key made "
                "for this run and end when the server stops"
            ),
            err=True,
        )


def _print_or_write(text: str, output: Path | None, written: str = "") -> None:
    if output:
        output.write_text(text, encoding="utf-8")
        say(f"{green('wrote')} {output}{written}")
    else:
        sys.stdout.write(text)


@files_app.command("prune")
@declaration_argument
@click.option(
    "--older-than",
    default=3600,
    show_default=True,
    help="Seconds: younger files may belong to a write in progress.",
)
@click.option("--delete", is_flag=True, help="Delete them (without it: only list them).")
def files_prune(path: Path, older_than: int, delete: bool) -> None:
    """List (or delete) stored files that no record holds."""
    from .app import App
    from .files.prune import orphans

    app = App.from_file(path)
    if app.store.files is None:
        raise _fail("the declaration has no file fields")
    found = list(orphans(app.store, app.store.files, older_than))
    for key in found:
        say(f"  {key}")
    if delete and found:
        app.store.files.storage.delete(found)
        say(green(f"deleted {len(found)} files no record holds"))
    elif found:
        say(yellow(f"{len(found)} files no record holds; delete them with --delete"))
    else:
        say(green("every stored file belongs to a record"))


@app.command()
@declaration_argument
@output_option
def openapi(path: Path, output: Path | None) -> None:
    """Print the OpenAPI 3.1 document of a declaration (its custom endpoints too)."""
    from .http.openapi import build_openapi
    from .user_code import load_hooks_module

    spec = _load(path)
    try:
        endpoints = getattr(load_hooks_module(spec, path), "endpoints", None)
    except DeclarationError as exc:
        _report_problems(exc)
        raise SystemExit(1) from None
    _print_or_write(json.dumps(build_openapi(spec, endpoints), indent=2) + "\n", output)


@app.command("graphql-schema")
@declaration_argument
@output_option
def graphql_schema(path: Path, output: Path | None) -> None:
    """Print the GraphQL schema a declaration serves at /graphql (schema language)."""
    from .graphql.schema import schema_text

    _print_or_write(schema_text(_load(path)), output)


@app.command()
@output_option
def schema(output: Path | None) -> None:
    """Print the JSON Schema of the declaration format (for editors)."""
    from .spec.json_schema import declaration_json_schema

    _print_or_write(json.dumps(declaration_json_schema(), indent=2) + "\n", output)


@import_app.command("openapi")
@click.argument("document", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the draft to a file.",
)
@click.option("--name", help="The declaration's name.")
def import_openapi(document: Path, output: Path | None, name: str | None) -> None:
    """Draft a declaration with routes from an OpenAPI 3 document (JSON or YAML); list what it
    could not map."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    from .importer.openapi import draft_from_openapi

    try:
        loaded = YAML(typ="safe").load(document.read_text(encoding="utf-8"))
    except (OSError, YAMLError) as exc:
        raise _fail(f"{document}: cannot read an OpenAPI document: {exc}") from None
    if not isinstance(loaded, dict) or not str(loaded.get("openapi", "")).startswith("3"):
        raise _fail(f"{document}: not an OpenAPI 3 document (no 'openapi: 3.x')")
    try:
        draft = draft_from_openapi(loaded, name or document.stem)
    except DeclarationError as exc:  # a problem no route, field or shape entry explains
        _report_problems(exc)
        raise SystemExit(1) from None
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
    _print_or_write(text, output, f" — {len(draft.unmapped)} part(s) not mapped")
    for line in draft.unmapped:
        say(f"{yellow('not mapped:')} {line}", err=True)


@app.command()
@click.argument(
    "directory", required=False, default=".", type=click.Path(file_okay=False, path_type=Path)
)
@click.option(
    "--http",
    is_flag=True,
    help="Streamable HTTP on 127.0.0.1 instead of stdio, behind a bearer token "
    "(BACKFORGE_MCP_TOKEN, or one made and printed at start).",
)
@click.option("--port", default=8766, show_default=True, help="The port of --http.")
def mcp(directory: Path, http: bool, port: int) -> None:
    """Serve backforge's tools to a coding agent over the Model Context Protocol: validate,
    plan, migrate, serve, call and audit the project in DIRECTORY (files stay inside it)."""
    from .extras import require

    require("mcp", "backforge mcp")
    from .agent.tools import build_server

    if not directory.is_dir():
        raise _fail(f"{directory} is not a directory")
    server, workshop = build_server(directory)
    # A client ends the server with SIGTERM: the development server it started ends with it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        if http:
            from .agent.http import serve_streamable_http

            token = os.environ.get("BACKFORGE_MCP_TOKEN") or secrets.token_urlsafe(32)
            say(f"backforge MCP server on http://127.0.0.1:{port}/mcp", err=True)
            if "BACKFORGE_MCP_TOKEN" not in os.environ:
                say(f"send Authorization: Bearer {token}", err=True)
            serve_streamable_http(server, port, token)
        else:
            server.run("stdio")
    finally:
        workshop.stop()


@app.command()
@click.argument("words", nargs=-1, required=True)
@click.option(
    "--output",
    "-o",
    default="backforge.yaml",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the declaration.",
)
@click.option(
    "--rounds",
    default=3,
    show_default=True,
    type=click.IntRange(1, 10),
    help="Answers asked of the model at most: the first, then repairs with check's errors.",
)
@click.option("--audit/--no-audit", default=True, help="Serve the draft and audit it first.")
@click.option("--yes", is_flag=True, help="Write without asking.")
def design(words: tuple[str, ...], output: Path, rounds: int, audit: bool, yes: bool) -> None:
    """Draft a declaration from a description in plain words with a language model (any
    OpenAI-compatible server); check, plan and audit it, and write it once you agree."""
    from .blueprints import blueprint_names
    from .design.chat import HOW_TO_CONFIGURE, ChatError, ChatModel
    from .design.loop import design_declaration
    from .design.preview import preview_lines

    try:
        model = ChatModel.from_environment()
    except ChatError as exc:
        raise _fail(str(exc)) from None
    if model is None:
        say(yellow(f"no language model is configured: {HOW_TO_CONFIGURE}."), err=True)
        say(
            "Or start from a blueprint: backforge init DIR --blueprint NAME "
            f"({', '.join(blueprint_names())})",
            err=True,
        )
        raise SystemExit(1)
    if output.exists():
        raise _fail(f"{output} already exists; name another file with -o")
    if not output.parent.is_dir():
        raise _fail(f"{output.parent} is not a directory")
    try:
        draft = design_declaration(" ".join(words), model, rounds)
    except ChatError as exc:
        raise _fail(str(exc)) from None
    for number, attempt in enumerate(draft.rounds, 1):
        say(f"round {number}: {len(attempt.problems)} problem(s)", err=True)
    if draft.text is None:
        for problem in draft.rounds[-1].problems:
            say(f"  - {problem}", err=True)
        raise _fail(f"no valid declaration after {rounds} round(s); nothing was written")
    # The draft on stdout; what is said about it, and the question, on stderr.
    say(draft.text)
    for warning in draft.warnings:
        say(yellow(f"warning: {warning}"), err=True)
    for line in preview_lines(draft.text, audit):
        say(line, err=True)
    if not yes and not click.confirm(f"write {output}?", default=True, err=True):
        say("nothing was written", err=True)
        return
    output.write_text(draft.text, encoding="utf-8")
    say(f"{green('wrote')} {output}; next: {bold(f'backforge serve {output} --dev')}")


def _register_audit() -> None:
    from .audit.command import audit

    app.add_command(audit, "audit")


_register_audit()


def main() -> None:
    from .extras import MissingExtra

    try:
        app()
    except MissingExtra as exc:  # e.g. DATABASE_URL names PostgreSQL, the driver is absent
        raise _fail(str(exc)) from None
