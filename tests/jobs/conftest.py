"""A project on disk (declaration, hooks module, SQLite database) and real `backforge worker`
processes running against it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from backforge import App

HERE = Path(__file__).parent
ADMIN = "test-admin-token"
# Short leases and ticks, so that a killed worker's job is handed out again within seconds.
FAST = {
    "BACKFORGE_JOBS_LEASE": "2",
    "BACKFORGE_JOBS_TICK": "0.2",
    "BACKFORGE_JOBS_POLL": "0.2",
}
COLLECTIONS = {
    "orders": {
        "fields": {
            "note": {"type": "text"},
            "status": {"type": "select", "values": ["pending", "paid"], "default": "pending"},
        }
    },
    "receipts": {"fields": {"order_id": {"type": "text"}, "kind": {"type": "text"}}},
    "runs": {
        "fields": {"job": {"type": "text"}, "attempt": {"type": "int"}, "pid": {"type": "int"}}
    },
    "ticks": {"fields": {"tick": {"type": "text"}, "pid": {"type": "int"}}},
}


def wait_for(outcome: Callable[[], Any], what: str, deadline: float = 30.0) -> Any:
    """Poll until `outcome()` is truthy; fail naming `what` after the deadline."""
    end = time.monotonic() + deadline
    while True:
        value = outcome()
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what} (last: {value!r})")
        time.sleep(0.1)


class Project:
    def __init__(
        self,
        folder: Path,
        declaration: dict[str, Any],
        env: dict[str, str],
        database: str | None = None,
    ):
        self.folder = folder
        self.path = folder / "project.yaml"
        # JSON is YAML.
        self.path.write_text(json.dumps(declaration, indent=2), encoding="utf-8")
        shutil.copy(HERE / "job_hooks.py", folder / "job_hooks.py")
        self.env = {**os.environ, **FAST, **env}
        self.env.pop("DATABASE_URL", None)
        if database is not None and not database.startswith("sqlite"):
            self.env["DATABASE_URL"] = database
        else:  # the SQLite file beside the declaration, whatever this process's environment
            database = f"sqlite:///{folder / (declaration['name'] + '.db')}"
        self.workers: list[subprocess.Popen] = []
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            self.app = App.from_file(self.path, database, auto_migrate=True, admin_token=ADMIN)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        self.store = self.app.store

    def start_worker(self) -> subprocess.Popen:
        log = open(self.folder / f"worker-{len(self.workers)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from backforge.cli import main; main()",
                "worker",
                str(self.path),
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.workers.append(process)
        return process

    def start_server(self) -> str:
        """`backforge serve` on a free port of 127.0.0.1; its base URL once it answers."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        log = open(self.folder / "serve.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-m", "backforge", "serve", str(self.path), "--port", str(port)],
            env={**self.env, "BACKFORGE_ADMIN_TOKEN": ADMIN},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.workers.append(process)
        url = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            assert process.poll() is None, (self.folder / "serve.log").read_text()
            try:
                return httpx.get(url + "/api/openapi.json", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(answers, "the server", deadline=60)
        return url

    def logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace") for p in sorted(self.folder.glob("worker-*.log"))
        )

    def rows(self, collection: str, **match: Any) -> list[dict[str, Any]]:
        from backforge.store.hooks import SYSTEM
        from backforge.store.listing import ListRequest

        items = self.store.list(collection, SYSTEM, ListRequest(limit=1000)).items
        return [r for r in items if all(r.get(k) == v for k, v in match.items())]

    def jobs(self) -> list[dict[str, Any]]:
        from sqlalchemy import select

        table = self.store.metadata.tables["_bf_jobs_outbox"]
        with self.store.engine.connect() as connection:
            return [dict(r) for r in connection.execute(select(table)).mappings()]

    def job(self, job_id: str) -> dict[str, Any] | None:
        return next((j for j in self.jobs() if j["id"] == job_id), None)

    def stop(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                process.kill()
                process.wait(10)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Callable[..., Project]]:
    made: list[Project] = []

    def make(
        env: dict[str, str] | None = None, database: str | None = None, **sections: Any
    ) -> Project:
        declaration = {
            "name": "jobs_" + uuid.uuid4().hex[:10],
            "collections": COLLECTIONS,
            "hooks": "job_hooks.py",
            **sections,
        }
        made.append(Project(tmp_path, declaration, env or {}, database))
        return made[-1]

    yield make
    for made_project in made:
        made_project.stop()
        made_project.app.engine.dispose()
