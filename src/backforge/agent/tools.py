"""The MCP server of `backforge mcp`: each step of building a backend as a tool with a JSON
Schema (from the type hints) and an answer an agent can act on. Tools that write files or a
database say so in their annotations; every path stays inside the project directory."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

from .. import __version__
from ..dev_server import Account, DevServer, DevServerError
from .project import DEFAULT_DECLARATION, Project

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ..spec import Spec

CHECK_TIMEOUT = 60.0
ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9._@+-]{1,64}$")
BODY_SHOWN = 20_000  # characters of a response body returned to the agent

READS = ToolAnnotations(readOnlyHint=True, openWorldHint=False)
# Imports the project's hooks file (its code runs, in a child process); writes nothing itself.
RUNS_CODE = ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=False)
WRITES_FILES = ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=False)
CHANGES_DATA = ToolAnnotations(readOnlyHint=False, destructiveHint=True, openWorldHint=False)
Operation = Literal["list", "view", "create", "update", "delete"]
Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]

INSTRUCTIONS = """backforge turns one YAML declaration into a secure REST API. The loop:
declaration_format (learn the format) -> write the declaration -> validate_declaration (fix
every problem it names) -> plan_migration (review) -> apply_migrations (confirm=true) ->
start_server -> create_test_account / call_api as admin, anonymous and test accounts (rules
hold?) -> run_audit -> stop_server. Paths are relative to the project directory."""


class Workshop:
    """What the tools share: the project and the development server, if one runs."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.server: DevServer | None = None
        self.lock = threading.Lock()

    def running_server(self) -> DevServer:
        if self.server is None or not self.server.running:
            raise ToolError("no server is running: call start_server first")
        return self.server

    def stop(self) -> None:
        with self.lock:
            if self.server is not None:
                self.server.stop()
                self.server = None


def build_server(root: Path) -> tuple[MCPServer, Workshop]:
    workshop = Workshop(Project(root))
    project = workshop.project
    mcp = MCPServer(
        "backforge", version=__version__, instructions=INSTRUCTIONS, log_level="WARNING"
    )

    @mcp.tool(annotations=READS)
    def declaration_format() -> dict[str, Any]:
        """The declaration format: its JSON Schema, the rule language, a one-collection example
        and the blueprints (complete, audited declarations: `backforge init DIR --blueprint
        NAME`). Read it before writing a declaration."""
        from ..authoring import RULE_LANGUAGE, blueprint_texts, starter_text
        from ..spec.json_schema import declaration_json_schema

        return {
            "json_schema": declaration_json_schema(),
            "rule_language": RULE_LANGUAGE,
            "example": starter_text(),
            "blueprints": blueprint_texts(),
        }

    @mcp.tool(annotations=RUNS_CODE)
    def validate_declaration(
        file: str = DEFAULT_DECLARATION, text: str | None = None
    ) -> dict[str, Any]:
        """Check a declaration and its hooks file as `backforge check` does: every problem at
        once, each with its line, key path and message (which often names the fix). With
        `text`, that text is checked as if it were `file` (from a scratch file beside it, removed
        after), and `file` is left as it is. The hooks file it names is imported: its code runs,
        in a child process, and it must be inside the project."""
        if text is None:
            return _check(project.declaration(file), project.root)
        path = project.declaration_path(file)
        # A new name no link can stand at (O_EXCL), in the folder the hooks path is relative to.
        handle, name = tempfile.mkstemp(dir=path.parent, prefix=".backforge-draft-", suffix=".yaml")
        draft = Path(name)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
            return _check(draft, project.root)
        finally:
            draft.unlink(missing_ok=True)

    @mcp.tool(annotations=WRITES_FILES)
    def write_declaration(text: str, file: str = DEFAULT_DECLARATION) -> dict[str, Any]:
        """Write a declaration file, only if it validates; else nothing is written and the
        problems are answered."""
        report = validate_declaration(file, text)
        if report["ok"]:
            project.declaration_path(file).write_text(text, encoding="utf-8")
        return {"written": report["ok"], **report}

    @mcp.tool(annotations=READS)
    def describe_api(file: str = DEFAULT_DECLARATION) -> dict[str, Any]:
        """The API a declaration serves: each operation (method, path, summary, who may call
        it) from its OpenAPI document."""
        from ..http.openapi import build_openapi

        spec = _spec(project.declaration(file))
        document = build_openapi(spec, None)
        operations = [
            {"method": method.upper(), "path": path, "summary": operation.get("summary", "")}
            for path, item in document.get("paths", {}).items()
            for method, operation in item.items()
            if isinstance(operation, dict) and method != "parameters"
        ]
        return {"name": spec.name, "operations": operations}

    @mcp.tool(annotations=READS)
    def explain_rule(
        collection: str,
        operation: Operation = "view",
        caller_id: str | None = None,
        caller_collection: str | None = None,
        record_id: str | None = None,
        file: str = DEFAULT_DECLARATION,
    ) -> dict[str, Any]:
        """Which rule admits or refuses a caller (an account id; none: anonymous) on a record
        of the database, and which part of the rule decided."""
        from ..store.errors import InvalidQuery
        from ..store.explain import caller_from_database, explain
        from ..store.records import RecordStore

        path = project.declaration(file)
        spec = _spec(path)
        engine = _engine(path, spec)
        try:
            store = RecordStore(spec, engine)
            who = caller_from_database(store, caller_collection, caller_id)
            return explain(store, collection, operation, who, record_id)
        except InvalidQuery as exc:
            raise ToolError(exc.detail) from None
        finally:
            engine.dispose()

    @mcp.tool(annotations=READS)
    def migration_status(file: str = DEFAULT_DECLARATION) -> dict[str, Any]:
        """Applied and pending migration plans, and declared changes not yet planned."""
        from ..schema.migrations import migration_status as status_of

        path = project.declaration(file)
        spec = _spec(path)
        engine = _engine(path, spec)
        try:
            status = status_of(engine, spec, path.parent / "migrations")
        finally:
            engine.dispose()
        return {
            "applied": [m.name for m in status.applied],
            "pending": list(status.pending),
            "not_planned": [str(change) for change in status.drift],
        }

    @mcp.tool(annotations=WRITES_FILES)
    def plan_migration(
        file: str = DEFAULT_DECLARATION, allow_destructive: bool = False, name: str | None = None
    ) -> dict[str, Any]:
        """Compare the database with the declaration and write a migration plan (in
        migrations/) to review. Nothing is applied; apply_migrations does that."""
        from ..schema.migrations import MigrationError
        from ..schema.migrations import plan_migration as plan_of

        path = project.declaration(file)
        spec = _spec(path)
        engine = _engine(path, spec)
        try:
            plan = plan_of(
                engine,
                spec,
                path.parent / "migrations",
                allow_destructive=allow_destructive,
                name=name,
            )
        except MigrationError as exc:
            raise ToolError(str(exc)) from None
        finally:
            engine.dispose()
        if plan is None:
            return {"planned": False, "message": "the database matches the declaration"}
        return {
            "planned": True,
            "plan_file": project.relative(plan.path),
            "plan": plan.path.read_text(encoding="utf-8"),
        }

    @mcp.tool(annotations=CHANGES_DATA)
    def apply_migrations(file: str = DEFAULT_DECLARATION, confirm: bool = False) -> dict[str, Any]:
        """Apply the pending migration plans to the database, each in a transaction. Changes
        the database: refused unless `confirm` is true (review the plans first)."""
        from ..schema.migrations import MigrationError
        from ..schema.migrations import apply_migrations as apply_all

        path = project.declaration(file)
        if not confirm:
            pending = migration_status(file)["pending"]
            raise ToolError(
                "apply_migrations changes the database: call it again with confirm=true once "
                f"the plans are reviewed (pending: {', '.join(pending) or 'none'})"
            )
        spec = _spec(path)
        engine = _engine(path, spec)
        try:
            return {"applied": apply_all(engine, path.parent / "migrations")}
        except MigrationError as exc:
            raise ToolError(str(exc)) from None
        finally:
            engine.dispose()

    @mcp.tool(annotations=CHANGES_DATA)
    def start_server(file: str = DEFAULT_DECLARATION) -> dict[str, Any]:
        """Serve the declaration for development on a free loopback port (`backforge serve
        --dev`: non-destructive schema changes are applied to the database). A server already
        running is stopped first; its test accounts are forgotten."""
        path = project.declaration(file)
        report = _check(path, project.root)
        if not report["ok"]:
            raise ToolError("the declaration has problems; validate_declaration lists them")
        with workshop.lock:
            if workshop.server is not None:
                workshop.server.stop()
                workshop.server = None
            with _told():
                workshop.server = DevServer.start(path)
            base = workshop.server.base_url
        return {
            "base_url": base,
            "docs": base + "/docs",
            "openapi": base + "/api/openapi.json",
            "users": ["anonymous", "admin"],
        }

    @mcp.tool(annotations=READS)
    def server_log(lines: int = 50) -> str:
        """The last lines the development server wrote (JSON lines: requests, errors)."""
        return workshop.running_server().log(max(1, lines))

    @mcp.tool(annotations=CHANGES_DATA)
    def stop_server() -> dict[str, Any]:
        """Stop the development server."""
        running = workshop.server is not None and workshop.server.running
        workshop.stop()
        return {"stopped": running}

    @mcp.tool(annotations=CHANGES_DATA)
    def create_test_account(
        collection: str,
        email: str,
        password: str,
        fields: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        """Create an account in an auth collection of the running server (as admin), log in
        as it and remember it under `name` (default: the email), for call_api and run_audit.
        An account with that email already there (an earlier session) is logged into."""
        label = name or email
        if not ACCOUNT_NAME.match(label):
            raise ToolError("name the account with letters, digits and . _ @ + - (up to 64)")
        server = workshop.running_server()
        body = {**(fields or {}), "email": email, "password": password}
        with _told():
            created = server.request("POST", f"/api/{collection}", "admin", body)
            # 409: made in an earlier session on this database; its password must still match
            if created.status_code not in (201, 409):
                raise ToolError(
                    f"creating the account answered {created.status_code}: {created.text}"
                )
            login = server.request(
                "POST",
                f"/api/auth/{collection}/login",
                "anonymous",
                {"email": email, "password": password},
            )
        if login.status_code != 200:
            raise ToolError(f"logging in answered {login.status_code}: {login.text}")
        if created.status_code == 409:
            with _told():
                me = server.request(
                    "GET",
                    "/api/auth/me",
                    "anonymous",
                    headers={"Authorization": f"Bearer {login.json()['access_token']}"},
                )
            record = me.json() if me.status_code == 200 else {"id": None, "email": email}
        else:
            record = created.json()
        server.accounts[label] = Account(collection, record["id"], login.json()["access_token"])
        return {"name": label, "record": record}

    @mcp.tool(annotations=CHANGES_DATA)
    def call_api(
        method: Method,
        path: str,
        user: str = "anonymous",
        body: Any = None,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Send a request to the running server as `user`: 'anonymous', 'admin' or a test
        account's name. Answers the status, the headers that matter and the body."""
        with _told():
            response = workshop.running_server().request(method, path, user, body, query, headers)
        shown = {
            k: v
            for k, v in response.headers.items()
            if k in ("content-type", "location", "etag", "retry-after", "www-authenticate")
        }
        try:
            content: Any = response.json()
        except ValueError:
            content = response.text[:BODY_SHOWN]
        return {"status": response.status_code, "headers": shown, "body": content}

    @mcp.tool(annotations=CHANGES_DATA)
    def run_audit(
        max_requests: int = 800, max_seconds: float = 120.0, allow_writes: bool = False
    ) -> dict[str, Any]:
        """Audit the running server as admin, anonymous and each test account (`backforge
        audit`): findings with their severity, operation and fix. Creates records; with
        `allow_writes` also updates and deletes records it did not create."""
        from ..extras import MissingExtra, require

        try:
            require("audit", "run_audit")
        except MissingExtra as exc:
            raise ToolError(str(exc)) from None
        from ..audit.auth import parse_user
        from ..audit.runner import run_audit as audit

        server = workshop.running_server()
        users = [parse_user(f"admin=bearer:{server.admin_token}")]
        users += [parse_user(f"{n}=bearer:{a.access_token}") for n, a in server.accounts.items()]
        # who is who: the test accounts are the ordinary users object-level checks compare
        roles = {"users": {"admin": "admin", **dict.fromkeys(server.accounts, "user")}}
        report = audit(
            server.base_url,
            users=users,
            roles=roles,
            max_requests=max_requests,
            max_time=max_seconds,
            allow_writes=allow_writes,
            declaration=str(server.declaration),
        )
        return {
            "findings": [
                {
                    "id": f.id,
                    "severity": f.severity.label,
                    "operation": f.operation,
                    "title": f.title,
                    "fix": f.fix,
                }
                for f in report.findings
            ],
            "requests": report.requests,
            "notes": report.notes,
        }

    @mcp.resource("backforge://declaration", mime_type="application/yaml")
    def current_declaration() -> str:
        """The project's declaration (backforge.yaml)."""
        return project.declaration(DEFAULT_DECLARATION).read_text(encoding="utf-8")

    @mcp.resource("backforge://declaration-schema", mime_type="application/schema+json")
    def declaration_schema() -> str:
        """The JSON Schema of the declaration format."""
        from ..spec.json_schema import declaration_json_schema

        return json.dumps(declaration_json_schema())

    for document in sorted((files("backforge") / "guide").iterdir(), key=lambda d: d.name):
        if document.name.endswith(".md"):
            _add_document(mcp, document)
    return mcp, workshop


def _add_document(mcp: MCPServer, document: Traversable) -> None:
    """backforge's documentation as a resource: backforge://docs/readme, .../agents, ..."""
    topic = document.name.removesuffix(".md").lower()

    @mcp.resource(
        f"backforge://docs/{topic}",
        name=f"docs-{topic}",
        mime_type="text/markdown",
        description=f"backforge's documentation: {document.name}",
    )
    def read() -> str:
        return document.read_text(encoding="utf-8")


@contextmanager
def _told() -> Iterator[None]:
    """The development server's errors, told to the agent (not a crash of the tool)."""
    try:
        yield
    except DevServerError as exc:
        raise ToolError(str(exc)) from None


def _check(path: Path, root: Path) -> dict[str, Any]:
    """`backforge check` on `path` in a child process (the hooks file is user code; `-P`: the
    project's own files never stand in for the libraries)."""
    try:
        done = subprocess.run(
            [sys.executable, "-P", "-m", "backforge.agent.checking", str(path), str(root)],
            cwd=path.parent,
            capture_output=True,
            text=True,
            timeout=CHECK_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        raise ToolError(
            f"checking took over {CHECK_TIMEOUT:.0f} s (does the hooks file block?)"
        ) from None
    try:
        if done.returncode == 0:
            return json.loads(done.stdout)
    except ValueError:
        pass
    raise ToolError(f"the check failed to run:\n{done.stderr[-4000:]}")


def _spec(path: Path) -> Spec:
    from ..spec import DeclarationError
    from ..spec.loader import load_file

    try:
        return load_file(path)
    except DeclarationError as exc:
        problems = "; ".join(p.format(path.name) for p in exc.problems[:10])
        raise ToolError(f"the declaration has problems: {problems}") from None


def _engine(path: Path, spec: Spec) -> Engine:
    from ..database import declaration_engine

    return declaration_engine(path, spec.name)
