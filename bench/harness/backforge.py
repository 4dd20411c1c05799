"""The backforge adapter: the engine under test, served from bench/posts.yaml.

It follows the engine's CLI and REST surface:

    backforge migrate plan|apply FILE        (DATABASE_URL selects the database)
    backforge serve FILE --host H --port P [--workers N]
    POST /api/auth/users/signup | login      -> {"access_token": ...}
    GET  /api/posts?limit=20&sort=-created&total=true&filter=...&expand=...
    GET  /api/posts/{id}
    POST /api/posts

The engine is run from a clean export of the repository's HEAD commit (under
bench/.work/engine/<commit>), not from the shared working tree where other work is in
progress; BENCH_BACKFORGE_SOURCE=tree runs the working tree instead.

The caller, best first (BENCH_BACKFORGE_AUTH=auto, the default): a user who signs up
once and logs in at every start (the rule `auth.id != null` is checked for real);
else the admin of BACKFORGE_ADMIN_TOKEN (rules skipped); else rules opened to all.
`user` / `admin` / `open` force one of them.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import urllib.parse
from pathlib import Path

from .postgres import recreate_database
from .servers import (
    BENCH_DIR,
    FILTER_EXPR,
    REPO_DIR,
    Context,
    Running,
    Server,
    ServerUnavailable,
    _copy_db,
    _run,
    free_port,
    http,
)
from .token import BENCH_SECRET, make_token
from .wrk import Request

DECLARATION = BENCH_DIR / "posts.yaml"
ADMIN_TOKEN_ENV = "BACKFORGE_ADMIN_TOKEN"
# What `backforge serve` runs in each worker (it names the declaration in the environment).
FACTORY = "backforge.server:app_from_environment"
USER = {"email": "bench@example.com", "password": "bench-password-0123", "name": "Bench"}


@functools.cache
def engine_source() -> tuple[Path | None, str]:
    """(PYTHONPATH to use or None for the installed tree, a label naming the code run).

    Decided once per harness run, so that every backforge variant runs the same commit.
    """

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(REPO_DIR), *args], capture_output=True, text=True
        ).stdout.strip()

    commit = git("rev-parse", "HEAD")
    if os.environ.get("BENCH_BACKFORGE_SOURCE", "head") == "tree" or not commit:
        dirty = " (uncommitted changes)" if git("status", "--porcelain", "src") else ""
        return None, f"working tree at {commit[:8]}{dirty}"
    target = BENCH_DIR / ".work" / "engine" / commit
    if not (target / "src" / "backforge").exists():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(REPO_DIR), "archive", commit, "src"],
            capture_output=True,
            check=True,
        )
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target / "src", f"commit {commit[:8]}"


class Backforge(Server):
    """backforge on SQLite, one worker process on the server's core."""

    workers = 1

    def __init__(self, name: str = "backforge", label: str = "backforge (SQLite)"):
        super().__init__(name=name, label=label)
        self.auth = os.environ.get("BENCH_BACKFORGE_AUTH", "auto")
        self.declaration = DECLARATION
        self.caller_kind = "user"
        self.source: Path | None = None

    # -- where things are --------------------------------------------------------
    @property
    def venv_bin(self) -> Path:
        return Path(os.environ.get("BACKFORGE_VENV", REPO_DIR / ".venv")) / "bin"

    @property
    def live_db(self) -> Path:
        return self.dir / "bench.db"

    @property
    def snapshot_url(self) -> str:
        """Where the prepared rows are kept."""
        return f"sqlite:///{self.dir / 'snapshot.db'}"

    @property
    def live_url(self) -> str:
        return f"sqlite:///{self.live_db}"

    def _reset_snapshot(self) -> None:
        _copy_db(self.dir / "missing.db", self.dir / "snapshot.db")  # removes it and its WAL

    def _save_snapshot(self) -> None:
        """Keep the live database (now holding the bench user) as the snapshot."""
        _copy_db(self.live_db, self.dir / "snapshot.db")

    def _env(self, url: str) -> dict[str, str]:
        env = {"DATABASE_URL": url, "BACKFORGE_JWT_SECRET": BENCH_SECRET}
        if self.source is not None:
            env["PYTHONPATH"] = str(self.source)
        if self.caller_kind == "admin":
            env[ADMIN_TOKEN_ENV] = self.token
        return env

    def _backforge(self) -> list[str]:
        return [str(self.venv_bin / "python"), "-m", "backforge"]

    def _cli(self, *args: str, url: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self._backforge(), *args],
            capture_output=True,
            text=True,
            env={**os.environ, **self._env(url)},
            cwd=self.dir,
            timeout=300,
        )

    # -- preparation -------------------------------------------------------------
    def prepare(self, ctx: Context) -> None:
        super().prepare(ctx)
        if not (self.venv_bin / "python").exists():
            raise ServerUnavailable(f"no backforge virtualenv at {self.venv_bin}")
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True)
        self.source, code = engine_source()
        self.label += f", {code}"
        helptext = self._cli("--help", url=self.live_url)
        if helptext.returncode != 0 or "serve" not in helptext.stdout:
            reason = (helptext.stderr.strip().splitlines() or ["no 'serve' command"])[-1]
            raise ServerUnavailable(f"backforge serve is not available: {reason}")
        kinds = {"auto": ["user", "admin", "open"]}.get(self.auth, [self.auth])
        for kind in kinds:
            self.caller_kind = kind
            self.token = make_token()
            self._build(use_auth=kind != "open")
            if kind == "user" and not self._sign_up():
                continue
            if kind == "open" or self._accepts_token():
                break
        notes = {
            "user": "a signed-up user's JWT; the rule is checked",
            "admin": f"token checked as {ADMIN_TOKEN_ENV} (an admin: the rule is skipped)",
            "open": "rules opened to everyone: the engine accepted no token",
        }
        self.notes.append(notes[self.caller_kind])

    def _build(self, use_auth: bool) -> None:
        """Write the declaration in use, make the schema, load the rows into a snapshot."""
        text = DECLARATION.read_text()
        if not use_auth:
            text = re.sub(r"auth\.id != null", "true", text)
        self.declaration = self.dir / "posts.yaml"
        self.declaration.write_text(text)
        self._reset_snapshot()
        shutil.rmtree(self.dir / "migrations", ignore_errors=True)
        for step in ("plan", "apply"):
            done = self._cli("migrate", step, str(self.declaration), url=self.snapshot_url)
            if done.returncode != 0:
                (self.dir / "migrate.log").write_text(done.stdout + done.stderr)
                raise RuntimeError(f"backforge migrate {step} failed: {done.stderr[-500:]}")
        self._load(self.snapshot_url)

    def _load(self, url: str, *flags: str) -> None:
        assert self.ctx is not None
        loader = [str(self.venv_bin / "python"), str(BENCH_DIR / "peers" / "backforge_load.py")]
        loader += [str(self.declaration), url, str(self.ctx.dataset), *flags]
        env = {**os.environ, **({"PYTHONPATH": str(self.source)} if self.source else {})}
        _run(loader, env=env)

    def _sign_up(self) -> bool:
        """Create the bench user once; the snapshot keeps it for every round."""
        self.restore()
        running = Server.start(self, free_port())
        try:
            status, data = http(running.base_url + "/api/auth/users/signup", "", USER)
        finally:
            running.stop()
        if status not in (200, 201) or "access_token" not in data:
            (self.dir / "signup.log").write_text(f"{status} {data}")
            return False
        self._save_snapshot()
        return True

    def _accepts_token(self) -> bool:
        self.restore()
        running = self.start(free_port())
        try:
            status, data = http(running.base_url + self.requests()["list"].path, self.token)
        finally:
            running.stop()
        return status == 200 and len(self.page(data)[0]) == 20

    # -- each round ----------------------------------------------------------------
    def start(self, port: int) -> Running:
        running = super().start(port)
        if self.caller_kind == "user":
            # Access tokens expire: log in afresh at every start.
            login = {"email": USER["email"], "password": USER["password"]}
            status, data = http(running.base_url + "/api/auth/users/login", "", login)
            if status != 200:
                running.stop()
                raise RuntimeError(f"backforge login failed: {status} {data}")
            self.token = data["access_token"]
        return running

    def restore(self) -> None:
        _copy_db(self.dir / "snapshot.db", self.live_db)

    def command(self, port):
        argv = [*self._backforge(), "serve", str(self.declaration)]
        argv += ["--host", "127.0.0.1", "--port", str(port)]
        if self.workers > 1:
            argv += ["--workers", str(self.workers)]
        return argv, self._env(self.live_url), self.dir

    def requests(self):
        flt = urllib.parse.quote(FILTER_EXPR)
        page = "/api/posts?limit=20&sort=-created"
        return {
            "list": Request("static", page + "&total=true"),
            "list-nototal": Request("static", page),
            "get": Request("get", "/api/posts/{id}"),
            "filter": Request("static", f"{page}&filter={flt}&total=true"),
            "filter-nototal": Request("static", f"{page}&filter={flt}"),
            "list-expand": Request("static", page + "&expand=writer"),
            "declared-list": Request("static", "/v1/posts"),
            "declared-get": Request("get", "/v1/posts/{id}"),
            "graphql-list": Request("graphql", "/graphql", _graphql_page("")),
            "graphql-expand": Request("graphql", "/graphql", _graphql_page("writer { id name }")),
            "create": Request("create", "/api/posts"),
        }


class BackforgeTwoWorkers(Backforge):
    """Two worker processes over both cores; wrk then shares a core with one of them."""

    workers = 2

    def __init__(self):
        super().__init__(name="backforge-2w", label="backforge (SQLite), 2 workers on 2 cores")
        self.cpu_list = "all"


class BackforgeUvicorn(Backforge):
    """The same app under uvicorn's stock HTTP/1.1 protocol (httptools) instead of the
    engine's own (`server_protocol.py`): the factory `backforge serve` runs, started by
    uvicorn's CLI with the options `serve` gives it."""

    def __init__(self):
        super().__init__(name="backforge-uvicorn", label="backforge (SQLite), uvicorn httptools")

    def command(self, port):
        argv = [str(self.venv_bin / "python"), "-m", "uvicorn", "--factory", FACTORY]
        argv += ["--host", "127.0.0.1", "--port", str(port), "--http", "httptools"]
        argv += ["--loop", "uvloop", "--ws", "wsproto", "--no-access-log", "--no-server-header"]
        argv += ["--log-level", "warning"]
        env = {**self._env(self.live_url), "BACKFORGE_DECLARATION": str(self.declaration)}
        return argv, env, self.dir


class BackforgeGranian(Backforge):
    """The same app under granian (Rust HTTP server, one worker, single-threaded runtime,
    uvloop), when granian is installed in backforge's virtualenv."""

    def __init__(self):
        super().__init__(name="backforge-granian", label="backforge (SQLite) under granian")

    def prepare(self, ctx: Context) -> None:
        if not (self.venv_bin / "granian").exists():
            raise ServerUnavailable(f"no granian: {self.venv_bin}/pip install granian")
        super().prepare(ctx)

    def command(self, port):
        argv = [str(self.venv_bin / "granian"), "--interface", "asgi", "--factory"]
        argv += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
        argv += ["--runtime-mode", "st", "--loop", "uvloop", "--no-ws", "--log-level", "warning"]
        argv += [FACTORY]
        env = {**self._env(self.live_url), "BACKFORGE_DECLARATION": str(self.declaration)}
        return argv, env, self.dir


class BackforgePostgres(Backforge):
    """backforge on the PostgreSQL server of the machine (not pinned, shared with others).

    It uses its own database, BENCH_POSTGRES_URL (default .../backforge_bench on
    127.0.0.1:5432), dropped and created again at preparation; each round deletes the
    posts and authors and loads them again (the bench user stays).
    """

    def __init__(self):
        super().__init__(name="backforge-pg", label="backforge (PostgreSQL, unpinned)")
        self.url = os.environ.get("BENCH_POSTGRES_URL", "")
        self.database = "backforge_bench"  # when BENCH_POSTGRES_URL names none

    @property
    def snapshot_url(self) -> str:
        return self.url

    @property
    def live_url(self) -> str:
        return self.url

    def _reset_snapshot(self) -> None:
        self._recreate_database()

    def _save_snapshot(self) -> None:
        pass

    def _recreate_database(self) -> None:
        given = bool(self.url)
        name = self.url.rsplit("/", 1)[-1] if given else self.database
        try:
            user = recreate_database(self.venv_bin / "python", name)
        except RuntimeError as exc:
            raise ServerUnavailable(str(exc)) from None
        if not given:
            self.url = f"postgresql://{user}@127.0.0.1:5432/{name}"

    def restore(self) -> None:
        self._load(self.url, "--truncate")


class BackforgePostgresTwoWorkers(BackforgePostgres):
    """`--workers 2` on PostgreSQL, not pinned (as backforge-2w): beside backforge-pg, what a
    second process adds when the database is the shared one."""

    workers = 2

    def __init__(self):
        super().__init__()
        self.name, self.label = "backforge-pg-2w", "backforge (PostgreSQL), 2 workers on 2 cores"
        self.url = os.environ.get("BENCH_POSTGRES_URL_2W", "")
        self.database = "backforge_bench_2w"  # its own, beside backforge-pg's
        self.cpu_list = "all"


__all__ = [
    "Backforge",
    "BackforgeGranian",
    "BackforgePostgres",
    "BackforgePostgresTwoWorkers",
    "BackforgeTwoWorkers",
    "BackforgeUvicorn",
    "engine_source",
]


def _graphql_page(relation: str) -> str:
    """The list workload's page through GraphQL: the same 20 newest posts, every field, the
    total; with `relation`, the list-expand workload's writer of each."""
    fields = f"id created updated version title body author status views writer_id {relation}"
    query = f'{{ posts(first: 20, sort: "-created") {{ total items {{ {fields} }} }} }}'
    return json.dumps({"query": query})
