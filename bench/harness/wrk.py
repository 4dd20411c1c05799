"""Running wrk with one of the Lua scripts, and reading back its JSON summary line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .priority import boost

LUA_DIR = Path(__file__).resolve().parent.parent / "lua"
MARKER = "BENCH_JSON "


class WrkError(RuntimeError):
    pass


@dataclass(frozen=True)
class Request:
    """What one workload sends: a Lua script name and a path ("{id}" for a random id)."""

    script: str  # static | get | create | graphql
    path: str
    body: str = ""  # what the graphql script POSTs


@dataclass
class WrkResult:
    requests: int
    duration_s: float
    errors: dict[str, int]
    latency_us: dict[str, float]
    bytes: int

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def failed(self) -> int:
        """Socket errors and non-2xx/3xx answers."""
        return sum(self.errors.values())


def wrk_path() -> str | None:
    return shutil.which("wrk")


def parse_output(stdout: str) -> WrkResult:
    for line in stdout.splitlines():
        if line.startswith(MARKER):
            data = json.loads(line[len(MARKER) :])
            return WrkResult(
                requests=data["requests"],
                duration_s=data["duration_us"] / 1e6,
                errors=data["errors"],
                latency_us=data["latency_us"],
                bytes=data["bytes"],
            )
    raise WrkError(f"no summary in wrk output:\n{stdout[-2000:]}")


def run_wrk(
    base_url: str,
    request: Request,
    seconds: float,
    *,
    token: str,
    ids_file: Path,
    connections: int = 32,
    cpu: int | None = None,
) -> WrkResult:
    """One wrk run (one thread, `connections` connections), pinned to `cpu` if given."""
    wrk = wrk_path()
    if wrk is None:
        raise WrkError("wrk is not installed (apt-get install -y wrk)")
    if not base_url.startswith("http://127.0.0.1:"):
        raise WrkError("load is only ever sent to 127.0.0.1")
    url = base_url + (request.path if request.script != "get" else "/")
    argv = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA_DIR / f"{request.script}.lua"),
        url,
    ]
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu), *argv]
    env = {
        **os.environ,
        "BENCH_TOKEN": token,
        "BENCH_LUA_DIR": str(LUA_DIR),
        "BENCH_IDS": str(ids_file),
        "BENCH_PATH": request.path,
        "BENCH_BODY": request.body,
    }
    proc = subprocess.Popen(
        argv,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own autogroup, so that boost() can raise it
    )
    boost(proc.pid)
    try:
        stdout, stderr = proc.communicate(timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise WrkError("wrk did not finish in time") from None
    if proc.returncode != 0:
        raise WrkError(f"wrk failed ({proc.returncode}): {stderr.strip()[-2000:]}")
    return parse_output(stdout)
