"""Helpers of the middleware tests: real `backforge serve` processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ADMIN_TOKEN = "mw-admin-token-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
REDIS_URL = os.environ.get("BACKFORGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

# Notes are public; each may point at a secret that only admins may see.
DECLARATION = """
name: mw
collections:
  secrets:
    fields:
      label: {type: text, required: true}
  notes:
    fields:
      title: {type: text, required: true, max_length: 200}
      secret: {type: relation, to: secrets}
      data: {type: json}
    rules: {list: public, view: public}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def services_required() -> bool:
    return os.environ.get("BACKFORGE_REQUIRE_SERVICES") == "1"


@dataclass
class Server:
    declaration: Path
    environment: dict[str, str]
    arguments: list[str] = field(default_factory=list)  # more of `serve`'s, e.g. --workers 2
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.declaration.parent / f"serve-{self.port}.log"

    def start(self) -> Server:
        command = [sys.executable, "-m", "backforge", "serve", str(self.declaration)]
        # Migrated at start; one serving process (no reloader), as in production.
        command += ["--port", str(self.port), "--dev", "--no-reload", *self.arguments]
        with self.log.open("w") as output:
            self.process = subprocess.Popen(
                command, env=self.environment, stdout=output, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 90  # a busy machine can be slow to import and migrate
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log.read_text()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not start within 90 s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
