"""Memory of idle realtime subscribers: one `backforge serve` process (SQLite), N Server-Sent
Event streams opened on it by 50 accounts and left idle, the process's RSS read before and after,
and one write delivered to every stream to show they are alive.

    .venv/bin/python bench/realtime_idle.py [--streams 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness.procstat import tree_rss_kb

ACCOUNTS = 50  # a caller may hold 20 streams
DECLARATION = {
    "name": "idle",
    "collections": {
        "users": {
            "auth": {"signup": "open", "login": ["email"]},
            "fields": {"name": {"type": "text"}},
            "rules": {"view": "id = auth.id"},
        },
        "notes": {
            "fields": {"title": {"type": "text", "required": True}},
            "rules": {"list": "public", "view": "public", "create": "auth.id != null"},
        },
    },
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def open_stream(port: int, token: str) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", port))
    connection.sendall(
        b"GET /api/realtime?collection=notes HTTP/1.1\r\nHost: bench\r\n"
        + f"Authorization: Bearer {token}\r\n\r\n".encode()
    )
    seen = b""
    while b"event: ready" not in seen:
        seen += connection.recv(65536)
    return connection


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=1000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bf-realtime-"))
    (folder / "idle.yaml").write_text(json.dumps(DECLARATION))
    port = free_port()
    env = {
        **os.environ,
        "BACKFORGE_ADMIN_TOKEN": "bench-admin-token-" + "x" * 20,
        "BACKFORGE_RATE_LIMITS__ENABLED": "false",  # 50 sign-ups from one address
    }
    for name in ("DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    backforge = [sys.executable, "-m", "backforge"]
    for step in ("plan", "apply"):  # a production start: the schema migrated first
        subprocess.run(
            [*backforge, "migrate", step, "idle.yaml"],
            cwd=folder,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    command = [*backforge, "serve", "idle.yaml", "--port", str(port)]
    server = subprocess.Popen(
        command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(base + "/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        tokens = []
        for n in range(ACCOUNTS):
            answer = httpx.post(
                f"{base}/api/auth/users/signup",
                json={"email": f"u{n}@example.com", "password": "correct horse battery"},
            )
            if answer.status_code != 201:
                raise SystemExit(f"sign-up refused: {answer.status_code} {answer.text}")
            tokens.append(answer.json()["access_token"])
        one = open_stream(port, tokens[0])  # the first stream starts the broker
        one.close()
        time.sleep(0.5)
        before = tree_rss_kb(server.pid)
        streams = [open_stream(port, tokens[n % ACCOUNTS]) for n in range(args.streams)]
        time.sleep(1)
        after = tree_rss_kb(server.pid)
        started = time.perf_counter()
        httpx.post(
            f"{base}/api/notes",
            json={"title": "to everyone"},
            headers={"Authorization": f"Bearer {tokens[0]}"},
        )
        told = 0
        for stream in streams:
            seen = b""
            while b"event: create" not in seen:
                seen += stream.recv(65536)
            told += 1
        spread = time.perf_counter() - started
        print(
            f"{args.streams} idle streams: RSS {before / 1024:.1f} MB before, "
            f"{after / 1024:.1f} MB after (+{(after - before) / args.streams:.1f} KB a stream); "
            f"one write reached all {told} in {spread:.2f} s"
        )
        for stream in streams:
            stream.close()
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
