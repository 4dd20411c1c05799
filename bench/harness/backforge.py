"""The backforge adapter: the engine under test, served from bench/posts.yaml.

It follows the engine's CLI and REST surface:

    backforge migrate plan|apply FILE        (when present; else the tables are made
                                              from the declaration by the loader)
    backforge serve FILE --host H --port P   (DATABASE_URL selects the database)
    GET  /api/posts?limit=20&sort=-created&total=true&filter=...
    GET  /api/posts/{id}
    POST /api/posts

BENCH_BACKFORGE_AUTH=on|off|auto (default auto): with `auto`, the declaration's rules
(`auth.id != null`) are used when the engine accepts the bench token, else the rules
are opened to everyone and the report says so.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import urllib.parse
from pathlib import Path

from .servers import (
    BENCH_DIR,
    FILTER_EXPR,
    REPO_DIR,
    Context,
    Server,
    ServerUnavailable,
    _copy_db,
    _run,
    free_port,
    http,
)
from .token import BENCH_SECRET, BENCH_USER_ID, make_token
from .wrk import Request

DECLARATION = BENCH_DIR / "posts.yaml"
SECRET_ENV = ("BACKFORGE_SECRET", "BACKFORGE_JWT_SECRET", "BACKFORGE_SECRET_KEY")
# Until user accounts land, the engine knows one caller: the admin whose token is this.
ADMIN_TOKEN_ENV = "BACKFORGE_ADMIN_TOKEN"


class Backforge(Server):
    """backforge on SQLite, one worker process on the server's core."""

    workers = 1

    def __init__(self, name: str = "backforge", label: str = "backforge (SQLite)"):
        super().__init__(name=name, label=label)
        self.auth = os.environ.get("BENCH_BACKFORGE_AUTH", "auto")
        self.declaration = DECLARATION

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

    def _env(self, url: str) -> dict[str, str]:
        env = {"DATABASE_URL": url}
        env.update(dict.fromkeys(SECRET_ENV, BENCH_SECRET))
        if self.token and getattr(self, "caller_kind", "") == "admin":
            env[ADMIN_TOKEN_ENV] = self.token
        return env

    def _cli(self, *args: str, url: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.venv_bin / "backforge"), *args],
            capture_output=True,
            text=True,
            env={**os.environ, **self._env(url)},
            cwd=self.dir,
            timeout=120,
        )

    def prepare(self, ctx: Context) -> None:
        super().prepare(ctx)
        if not (self.venv_bin / "backforge").exists():
            raise ServerUnavailable(f"no backforge command in {self.venv_bin}")
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True)
        helptext = self._cli("--help", url=self.live_url)
        if helptext.returncode != 0 or "serve" not in helptext.stdout:
            reason = (helptext.stderr.strip().splitlines() or ["no 'serve' command"])[-1]
            raise ServerUnavailable(f"backforge serve is not available yet: {reason}")
        self.has_migrate = "migrate" in helptext.stdout
        self.token = make_token()
        # Who the bench token makes us, best first: a user (the engine verifies the JWT),
        # the admin of BACKFORGE_ADMIN_TOKEN (the rule is skipped), or nobody (rules opened).
        self.caller_kind = "user"
        self._build(use_auth=self.auth != "off")
        if self.auth != "off" and not self._accepts_token():
            self.caller_kind = "admin"
            if not self._accepts_token() and self.auth == "auto":
                self.caller_kind = "open"
                self._build(use_auth=False)
        if self.caller_kind == "open":
            self.notes.append("rules opened to everyone: the engine does not accept the token")
        elif self.caller_kind == "admin":
            self.notes.append(
                f"bearer token checked as {ADMIN_TOKEN_ENV} (an admin caller, so the rule is "
                "skipped; user tokens have not landed)"
            )

    def _build(self, use_auth: bool) -> None:
        """Write the declaration in use, make the schema, load the rows into a snapshot."""
        assert self.ctx is not None
        self.uses_auth = use_auth
        text = DECLARATION.read_text()
        if not use_auth:
            text = re.sub(r"auth\.id != null", "true", text)
        self.declaration = self.dir / "posts.yaml"
        self.declaration.write_text(text)
        self._reset_snapshot()
        shutil.rmtree(self.dir / "migrations", ignore_errors=True)
        create_schema = True
        if self.has_migrate:
            plan = self._cli("migrate", "plan", str(self.declaration), url=self.snapshot_url)
            apply = self._cli("migrate", "apply", str(self.declaration), url=self.snapshot_url)
            create_schema = plan.returncode != 0 or apply.returncode != 0
            if create_schema:
                (self.dir / "migrate.log").write_text(
                    plan.stdout + plan.stderr + apply.stdout + apply.stderr
                )
                self.notes.append("migrate plan/apply failed; tables made from the declaration")
                self._reset_snapshot()
        self._load(self.snapshot_url, "--schema" if create_schema else "")

    def _load(self, url: str, *flags: str) -> None:
        assert self.ctx is not None
        loader = [str(self.venv_bin / "python"), str(BENCH_DIR / "peers" / "backforge_load.py")]
        loader += [str(self.declaration), url, str(self.ctx.dataset), *filter(None, flags)]
        _run(loader)

    def _accepts_token(self) -> bool:
        self.restore()
        running = self.start(free_port())
        try:
            status, data = http(running.base_url + self.requests()["list"].path, self.token)
        finally:
            running.stop()
        return status == 200 and len(self.page(data)[0]) == 20

    def restore(self) -> None:
        _copy_db(self.dir / "snapshot.db", self.live_db)

    def command(self, port):
        argv = [str(self.venv_bin / "backforge"), "serve", str(self.declaration)]
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
            "create": Request("create", "/api/posts"),
        }


class BackforgeTwoWorkers(Backforge):
    """Two worker processes over both cores; wrk then shares a core with one of them."""

    workers = 2

    def __init__(self):
        super().__init__(name="backforge-2w", label="backforge (SQLite), 2 workers on 2 cores")
        self.cpu_list = "all"


class BackforgePostgres(Backforge):
    """backforge on the PostgreSQL server of the machine (not pinned, shared with others).

    It uses its own database, BENCH_POSTGRES_URL (default .../backforge_bench on
    127.0.0.1:5432), dropped and created again at preparation; each round truncates
    the table and loads the rows again.
    """

    def __init__(self):
        super().__init__(name="backforge-pg", label="backforge (PostgreSQL, unpinned)")
        self.url = os.environ.get("BENCH_POSTGRES_URL", "")

    @property
    def snapshot_url(self) -> str:
        return self.url

    @property
    def live_url(self) -> str:
        return self.url

    def _reset_snapshot(self) -> None:
        self._recreate_database()

    def _recreate_database(self) -> None:
        script = (
            "import sys, psycopg\n"
            "from psycopg import sql\n"
            "for user in ('root', 'postgres'):\n"
            "    try:\n"
            "        c = psycopg.connect(f'postgresql://{user}@127.0.0.1:5432/postgres',"
            " autocommit=True, connect_timeout=3)\n"
            "    except psycopg.OperationalError:\n"
            "        continue\n"
            "    name = sql.Identifier(sys.argv[1])\n"
            "    c.execute(sql.SQL('DROP DATABASE IF EXISTS {} WITH (FORCE)').format(name))\n"
            "    c.execute(sql.SQL('CREATE DATABASE {}').format(name))\n"
            "    print(user)\n"
            "    break\n"
        )
        given = bool(self.url)
        name = self.url.rsplit("/", 1)[-1] if given else "backforge_bench"
        out = subprocess.run(
            [str(self.venv_bin / "python"), "-c", script, name],
            capture_output=True,
            text=True,
            timeout=60,
        )
        user = out.stdout.strip()
        if out.returncode != 0 or not user:
            raise ServerUnavailable(f"no PostgreSQL at 127.0.0.1:5432: {out.stderr[-300:]}")
        if not given:
            self.url = f"postgresql://{user}@127.0.0.1:5432/{name}"

    def restore(self) -> None:
        truncate = "--truncate"
        self._load(self.url, truncate)


__all__ = ["BENCH_USER_ID", "Backforge", "BackforgePostgres", "BackforgeTwoWorkers"]
