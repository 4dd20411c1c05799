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
    def __init__(self):
        super().__init__(name="backforge", label="backforge")
        self.auth = os.environ.get("BENCH_BACKFORGE_AUTH", "auto")
        self.declaration = DECLARATION

    @property
    def venv_bin(self) -> Path:
        return Path(os.environ.get("BACKFORGE_VENV", REPO_DIR / ".venv")) / "bin"

    @property
    def live_db(self) -> Path:
        return self.dir / "bench.db"

    def _env(self, db: Path) -> dict[str, str]:
        env = {"DATABASE_URL": f"sqlite:///{db}"}
        env.update(dict.fromkeys(SECRET_ENV, BENCH_SECRET))
        if self.token:
            env[ADMIN_TOKEN_ENV] = self.token
        return env

    def _cli(self, *args: str, db: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.venv_bin / "backforge"), *args],
            capture_output=True,
            text=True,
            env={**os.environ, **self._env(db)},
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
        helptext = self._cli("--help", db=self.live_db)
        if helptext.returncode != 0 or "serve" not in helptext.stdout:
            reason = (helptext.stderr.strip().splitlines() or ["no 'serve' command"])[-1]
            raise ServerUnavailable(f"backforge serve is not available yet: {reason}")
        self.has_migrate = "migrate" in helptext.stdout
        self.token = make_token()
        use_auth = self.auth != "off"
        self._build(use_auth)
        if self.auth == "auto" and not self._accepts_token():
            self._build(False)
        if not self.uses_auth:
            self.notes.append("rules opened to everyone: the engine does not check tokens yet")
        elif not self._has_user_tokens():
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
        snap = self.dir / "snapshot.db"
        _copy_db(self.dir / "missing.db", snap)  # clears the old snapshot and its WAL
        shutil.rmtree(self.dir / "migrations", ignore_errors=True)
        create_schema = True
        if self.has_migrate:
            plan = self._cli("migrate", "plan", str(self.declaration), db=snap)
            apply = self._cli("migrate", "apply", str(self.declaration), db=snap)
            create_schema = plan.returncode != 0 or apply.returncode != 0
            if create_schema:
                (self.dir / "migrate.log").write_text(
                    plan.stdout + plan.stderr + apply.stdout + apply.stderr
                )
                self.notes.append("migrate plan/apply failed; tables made from the declaration")
                _copy_db(self.dir / "missing.db", snap)
        loader = [str(self.venv_bin / "python"), str(BENCH_DIR / "peers" / "backforge_load.py")]
        loader += [str(self.declaration), f"sqlite:///{snap}", str(self.ctx.dataset)]
        if create_schema:
            loader.append("--schema")
        _run(loader)

    def _has_user_tokens(self) -> bool:
        probe = "import importlib.util as u; print(u.find_spec('backforge.auth') is not None)"
        out = subprocess.run(
            [str(self.venv_bin / "python"), "-c", probe], capture_output=True, text=True
        )
        return out.stdout.strip() == "True"

    def _accepts_token(self) -> bool:
        self.restore()
        running = self.start(free_port())
        try:
            status, _ = http(running.base_url + self.requests()["list"].path, self.token)
        finally:
            running.stop()
        return status == 200

    def restore(self) -> None:
        _copy_db(self.dir / "snapshot.db", self.live_db)

    def command(self, port):
        argv = [str(self.venv_bin / "backforge"), "serve", str(self.declaration)]
        argv += ["--host", "127.0.0.1", "--port", str(port)]
        return argv, self._env(self.live_db), self.dir

    def requests(self):
        flt = urllib.parse.quote(FILTER_EXPR)
        page = "/api/posts?limit=20&sort=-created"
        return {
            "list": Request("static", page + "&total=true"),
            "list-nototal": Request("static", page),
            "get": Request("get", "/api/posts/{id}"),
            "filter": Request("static", f"{page}&filter={flt}&total=true"),
            "filter-nototal": Request("static", f"{page}&filter={flt}"),
            "create": Request("create", "/api/posts"),
        }


__all__ = ["BENCH_USER_ID", "Backforge"]
