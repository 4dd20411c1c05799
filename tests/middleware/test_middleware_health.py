"""/healthz and /readyz: ready only while the database (and Redis, when set) answer."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from mw_support import ADMIN, DECLARATION, free_port, services_required


class PrivatePostgres:
    """A PostgreSQL cluster of this test alone, run as user postgres on a free port."""

    def __init__(self, bin_dir: Path, folder: Path):
        self.bin_dir = bin_dir
        self.folder = folder
        self.data = folder / "data"
        self.port = free_port()

    def _as_postgres(self, *command: str) -> subprocess.CompletedProcess:
        argv = [str(self.bin_dir / command[0]), *command[1:]]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)

    def init(self) -> None:
        done = self._as_postgres(
            "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr[-1000:]}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.folder / "postgres.log")
        done = self._as_postgres(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start"
        )
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {done.stderr[-1000:]}")

    def stop(self) -> None:
        self._as_postgres("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    reason = None
    if not found:
        reason = "no initdb under /usr/lib/postgresql/*/bin"
    elif os.geteuid() == 0 and shutil.which("runuser") is None:
        reason = "running as root without runuser to start PostgreSQL as postgres"
    if reason is None:
        folder = Path(tempfile.mkdtemp(prefix="bf-readyz-"))
        folder.chmod(0o777)
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres")
        cluster = PrivatePostgres(Path(found[-1]).parent, folder)
        try:
            cluster.init()
            cluster.start()
        except (RuntimeError, OSError, subprocess.SubprocessError, LookupError) as exc:
            reason = f"a private PostgreSQL cluster could not be started: {exc}"
            shutil.rmtree(folder, ignore_errors=True)
    if reason is not None:
        if services_required():
            pytest.fail(reason + " and BACKFORGE_REQUIRE_SERVICES=1")
        pytest.skip(reason)
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _wait_for(url: str, status: int) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:
        answer = httpx.get(url, timeout=10)
        if answer.status_code == status or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


def test_readyz_follows_the_database_down_and_back(make_server, private_postgres):
    with psycopg.connect(private_postgres.url, autocommit=True) as connection:
        connection.execute("SELECT 1")
    server = make_server(DATABASE_URL=private_postgres.url)
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(server.url + "/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok"}}
    assert httpx.post(server.url + "/api/notes", json={"title": "a"}, headers=ADMIN).is_success

    private_postgres.stop()
    unready = _wait_for(server.url + "/readyz", 503)
    assert unready.status_code == 503
    assert unready.headers["content-type"] == "application/problem+json"
    assert unready.json()["checks"] == {"database": "unreachable"}
    assert httpx.get(server.url + "/healthz").status_code == 200  # the process is fine
    listed = httpx.get(server.url + "/api/notes")
    assert listed.status_code == 503 and listed.json()["type"].endswith(":unavailable")

    private_postgres.start()
    assert _wait_for(server.url + "/readyz", 200).status_code == 200
    assert [n["title"] for n in httpx.get(server.url + "/api/notes").json()["items"]] == ["a"]


def test_readyz_reports_an_unreachable_redis_and_limits_fail_open(make_server, tmp_path):
    declaration = tmp_path / "redisless.yaml"
    declaration.write_text(DECLARATION, encoding="utf-8")
    closed = f"redis://127.0.0.1:{free_port()}/0"
    server = make_server(declaration, REDIS_URL=closed, BACKFORGE_CACHE__RESPONSES="true")
    unready = httpx.get(server.url + "/readyz")
    assert unready.status_code == 503
    assert unready.json()["checks"] == {"database": "ok", "redis": "unreachable"}
    # Serving beats refusing everyone: without its store the limiter and the cache step aside.
    assert httpx.get(server.url + "/api/notes").status_code == 200
    assert httpx.post(server.url + "/api/notes", json={"title": "b"}, headers=ADMIN).is_success
