"""schemathesis against the served OpenAPI document of each example: zero failures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

CONFIG = Path(__file__).with_name("schemathesis.toml")


# One worker: CPython 3.11.7 can fail "AST constructor recursion depth mismatch" when
# hypothesis parses source in two threads at once.
def _schemathesis(server, *extra: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(CONFIG),
        "--no-color",
        "run",
        server.url + "/api/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        "25",
        "--seed",
        "20261126",
        "--workers",
        "1",
        *extra,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("example", ["shop.yaml", "blog.yaml", "album.yaml"])
def test_schemathesis_finds_nothing(make_server, admin, example):
    server = make_server(example)
    # The fuzzer sends thousands of requests from one address: lift the limits so that the
    # auth endpoints are exercised rather than answered 429 (which is tested on its own).
    server.environment["BACKFORGE_RATE_LIMITS__AUTH"] = "100000/minute"
    server.environment["BACKFORGE_RATE_LIMITS__DEFAULT"] = "100000/minute"
    server.start("--dev")
    as_admin = _schemathesis(server, "-H", f"Authorization: {admin['Authorization']}")
    assert as_admin.returncode == 0, as_admin.stdout[-6000:]
    anonymous = _schemathesis(server, "--phases", "examples,coverage,fuzzing")
    assert anonymous.returncode == 0, anonymous.stdout[-6000:]


def _conduit_token(url: str) -> str:
    account = {"username": "fuzz", "email": "fuzz@example.org", "password": "password"}
    signed_up = httpx.post(url + "/api/users", json={"user": account}, timeout=10)
    assert signed_up.status_code == 201, signed_up.text
    return "Token " + signed_up.json()["user"]["token"]


def _secret_storage_token(url: str) -> str:
    account = {"username": "fuzz", "email": "fuzz@example.org", "password": "password"}
    assert httpx.post(url + "/register", json=account, timeout=10).status_code == 201
    logged_in = httpx.post(url + "/login", json=account, timeout=10)
    assert logged_in.status_code == 200, logged_in.text
    return "Bearer " + logged_in.json()["token"]


@pytest.mark.parametrize(
    ("example", "credential"),
    [("conduit.yaml", _conduit_token), ("secret_storage.yaml", _secret_storage_token)],
)
def test_schemathesis_finds_nothing_in_a_declared_contract(make_server, example, credential):
    """Examples whose every route is declared (shapes, envelopes, the contract's errors)."""
    server = make_server(example)
    server.environment["BACKFORGE_RATE_LIMITS__AUTH"] = "100000/minute"
    server.environment["BACKFORGE_RATE_LIMITS__DEFAULT"] = "100000/minute"
    server.start("--dev")
    as_user = _schemathesis(server, "-H", f"Authorization: {credential(server.url)}")
    assert as_user.returncode == 0, as_user.stdout[-6000:]
    anonymous = _schemathesis(server, "--phases", "examples,coverage,fuzzing")
    assert anonymous.returncode == 0, anonymous.stdout[-6000:]
