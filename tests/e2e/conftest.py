"""Real `backforge serve` processes on 127.0.0.1, on each database."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ADMIN_TOKEN = "e2e-admin-token-abcdefghijklmnop"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    declaration: Path
    environment: dict[str, str]
    port: int
    process: subprocess.Popen | None = None
    log: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *extra: str) -> Server:
        command = [
            sys.executable,
            "-m",
            "backforge",
            "serve",
            str(self.declaration),
            "--port",
            str(self.port),
            *extra,
        ]
        # A file, not a pipe: the server writes a log line per request and a full pipe blocks it.
        self.log = self.declaration.parent / f"serve-{self.port}.log"
        with self.log.open("w") as output:
            self.process = subprocess.Popen(
                command, env=self.environment, stdout=output, stderr=subprocess.STDOUT, text=True
            )
        deadline = time.monotonic() + 90  # a busy machine can be slow to import and migrate
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log.read_text()}")
            try:
                if httpx.get(self.url + "/api/openapi.json", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("server did not start within 90 s")

    def kill(self) -> None:
        """SIGKILL: no chance to flush or clean up, like a crash."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def copy_declaration(name: str, folder: Path) -> Path:
    """Each test serves its own copy, so the SQLite file and migrations/ land in tmp."""
    target = folder / name
    shutil.copy(EXAMPLES / name, target)
    for module in EXAMPLES.glob("*.py"):  # the hooks modules the examples name
        shutil.copy(module, folder / module.name)
    return target


@pytest.fixture
def make_server(db_url: str, tmp_path: Path) -> Iterator:
    servers: list[Server] = []

    def make(example: str = "shop.yaml") -> Server:
        environment = {**os.environ, "BACKFORGE_ADMIN_TOKEN": ADMIN_TOKEN}
        if db_url.startswith("sqlite"):
            environment.pop("DATABASE_URL", None)
        else:
            environment["DATABASE_URL"] = db_url
        server = Server(copy_declaration(example, tmp_path), environment, free_port())
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def admin() -> dict[str, str]:
    return dict(ADMIN)
