"""`backforge audit` against the examples served by `backforge serve`, the real process.

The engine is young: what it does not do yet is listed in ENGINE_GAPS, so that any other finding
fails here at once, and a strict xfail turns red the day a gap closes (then empty its entry).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backforge.audit.auth import parse_user
from backforge.audit.context import AuditOptions
from backforge.audit.findings import Severity
from backforge.audit.runner import AuditReport, run_audit

from .conftest import free_port

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ADMIN_TOKEN = "audit-admin-token-abcdefghijklmnop"
# what the engine does not do yet, per example, as (finding id, text in operation or detail)
ENGINE_GAPS: dict[str, set[tuple[str, str]]] = {
    "shop.yaml": set(),
    "blog.yaml": set(),
    # declared contracts: every route declared, the contract's error shape everywhere
    "conduit.yaml": set(),
    "secret_storage.yaml": set(),
}


def is_known_gap(example: str, finding) -> bool:
    text = f"{finding.operation} {finding.detail}"
    return any(finding.id == rule and needle in text for rule, needle in ENGINE_GAPS[example])


@pytest.fixture(scope="module", params=list(ENGINE_GAPS))
def example_report(request, tmp_path_factory) -> Iterator[tuple[str, AuditReport]]:
    """One audit per example, served by a real `backforge serve --dev` process."""
    if not (EXAMPLES / request.param).exists():
        pytest.skip(f"examples/{request.param} is not there")
    tmp_path = tmp_path_factory.mktemp("example")
    declaration = tmp_path / request.param
    shutil.copy(EXAMPLES / request.param, declaration)
    for module in EXAMPLES.glob("*.py"):  # the hooks modules the examples name
        shutil.copy(module, tmp_path / module.name)
    port = free_port()
    environment = {**os.environ, "BACKFORGE_ADMIN_TOKEN": ADMIN_TOKEN}
    environment.pop("DATABASE_URL", None)  # a SQLite file in tmp_path
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "backforge",
            "serve",
            str(declaration),
            "--dev",
            "--port",
            str(port),
        ],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"backforge serve exited: {process.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(url + "/api/openapi.json", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("backforge serve did not start within 30 s")
            time.sleep(0.1)
        report = run_audit(
            url,
            users=[parse_user(f"admin=bearer:{ADMIN_TOKEN}")],
            declaration=str(declaration),
            max_time=150,
            # generated requests are exercised on the test app; here the audit's own probes
            options=AuditOptions(fuzz_examples=0),
        )
        yield request.param, report
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def test_served_example_has_no_findings_beyond_known_engine_gaps(example_report):
    example, report = example_report
    unexpected = [
        (f.id, f.operation, f.detail)
        for f in report.findings
        if not is_known_gap(example, f) and f.severity > Severity.INFO
    ]
    assert unexpected == []
    assert report.operations >= (4 if example == "secret_storage.yaml" else 10)  # it has 4
    assert not any("budget ran out" in note for note in report.notes)


def test_served_example_has_no_findings_at_all(example_report, request):
    example, report = example_report
    if ENGINE_GAPS[example]:  # turns red the day the gap closes: then empty its entry
        request.applymarker(pytest.mark.xfail(strict=True, reason=str(ENGINE_GAPS[example])))
    assert [f.id for f in report.findings if f.severity > Severity.INFO] == []
