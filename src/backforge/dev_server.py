"""A development server in a child process (`backforge serve FILE --dev` on a free loopback
port) with its log kept, an admin token made for it and the test accounts signed in on it, so
that the API can be called as each of them: what `backforge mcp` serves and calls, and what
`backforge design` audits before it writes anything."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

START_TIMEOUT = 60.0
# -P: the project's own files (a json.py beside the declaration) never stand in for libraries.
SERVE = (sys.executable, "-P", "-m", "backforge", "serve", "--host", "127.0.0.1")
# Never handed to the server: the model's keys of `backforge design`.
WITHHELD = ("BACKFORGE_LLM_API_KEY", "OPENAI_API_KEY")
# Also withheld from a scratch server: the user's own databases.
SCRATCH_WITHHELD = ("DATABASE_URL", "REDIS_URL")
LOG_LINES_KEPT = 2000


class DevServerError(RuntimeError):
    """The server could not start or be called; the message says why, for the user."""


@dataclass
class Account:
    collection: str
    id: str
    access_token: str


@dataclass
class DevServer:
    declaration: Path
    process: subprocess.Popen
    base_url: str
    admin_token: str
    log_file: Path
    http: httpx.Client
    accounts: dict[str, Account] = field(default_factory=dict)

    @classmethod
    def start(cls, declaration: Path, scratch: bool = False) -> DevServer:
        """`scratch`: on a SQLite file beside the declaration whatever DATABASE_URL says, with
        no Redis (a draft served in a temporary folder)."""
        port = _free_port()
        admin_token = secrets.token_urlsafe(32)
        withheld = WITHHELD + (SCRATCH_WITHHELD if scratch else ())
        environment = {k: v for k, v in os.environ.items() if k not in withheld}
        environment |= {
            "BACKFORGE_ADMIN_TOKEN": admin_token,
            "BACKFORGE_JWT_SECRET": secrets.token_urlsafe(48),
            "BACKFORGE_LOG__FORMAT": "json",
        }
        handle, name = tempfile.mkstemp(prefix="backforge-dev-", suffix=".log")
        os.close(handle)
        log_file = Path(name)
        with log_file.open("wb") as log:
            process = subprocess.Popen(
                [*SERVE, str(declaration), "--dev", "--no-reload", "--port", str(port)],
                cwd=declaration.parent,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        # Loopback only, never through an HTTP_PROXY: the admin token goes with these requests.
        base_url = f"http://127.0.0.1:{port}"
        http = httpx.Client(base_url=base_url, trust_env=False, timeout=30.0)
        server = cls(declaration, process, base_url, admin_token, log_file, http)
        server._wait_until_up()
        return server

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = self.log(40)
                self.stop()
                raise DevServerError(f"the server stopped while starting:\n{log}")
            try:
                if self.http.get("/healthz", timeout=1.0).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        log = self.log(40)
        self.stop()
        raise DevServerError(f"the server did not answer within {START_TIMEOUT:.0f} s:\n{log}")

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.running:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.http.close()
        self.log_file.unlink(missing_ok=True)

    def log(self, lines: int) -> str:
        try:
            with self.log_file.open(encoding="utf-8", errors="replace") as log:
                return "".join(deque(log, maxlen=min(lines, LOG_LINES_KEPT)))
        except OSError:
            return ""

    def headers_for(self, user: str) -> dict[str, str]:
        """The credentials of `user`: 'anonymous', 'admin' or a test account's name."""
        if user == "anonymous":
            return {}
        if user == "admin":
            return {"Authorization": f"Bearer {self.admin_token}"}
        account = self.accounts.get(user)
        if account is None:
            known = ", ".join(["anonymous", "admin", *self.accounts])
            raise DevServerError(f"no test account {user!r}: create it first (known: {known})")
        return {"Authorization": f"Bearer {account.access_token}"}

    def request(
        self,
        method: str,
        path: str,
        user: str,
        body: Any = None,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        if not path.startswith("/") or path.startswith("//") or "://" in path:
            raise DevServerError("the path is the API's own, starting with '/', e.g. /api/notes")
        try:
            return self.http.request(
                method.upper(),
                path,
                json=body,
                params=query,
                headers={**(headers or {}), **self.headers_for(user)},
            )
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise DevServerError(f"the server did not answer: {exc}; see server_log") from None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
