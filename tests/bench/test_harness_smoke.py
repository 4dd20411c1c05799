"""The benchmark harness runs end to end: one short workload against the ceiling, parsed.

This asserts on the structure of the result, never on speed (timing lives in bench/).
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

pytestmark = [
    pytest.mark.skipif(
        shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)"
    ),
    pytest.mark.skipif(shutil.which("taskset") is None, reason="taskset is not installed"),
    pytest.mark.skipif(
        any(importlib.util.find_spec(m) is None for m in ("starlette", "uvicorn", "orjson")),
        reason="the ceiling peer needs starlette, uvicorn and orjson",
    ),
]


def test_short_get_workload_against_the_ceiling_is_measured_and_parsed(tmp_path):
    from harness.report import render, summarize
    from harness.runner import Bench, Plan

    plan = Plan(servers=["ceiling"], workloads=["get", "list"], rounds=1, seconds=1,
                warmup=0, connections=4, rows=200, max_wait=0, mode="smoke")  # fmt: skip
    bench = Bench(plan, tmp_path)
    servers = bench.setup(Path(sys.executable))
    assert [s.name for s in servers] == ["ceiling"], bench.outcome.skipped
    outcome = bench.run(servers)

    assert {(r.server, r.workload) for r in outcome.runs} == {
        ("ceiling", "get"),
        ("ceiling", "list"),
    }
    for run in outcome.runs:
        assert run.requests > 0
        assert run.failed == 0
        assert run.rps > 0
        assert 0 < run.p50_ms <= run.p99_ms
        assert run.cpu_s_per_1k >= 0
        assert run.peak_rss_mb > 0
        assert run.other_load_before >= 0 and run.other_load_during >= 0
    cells = summarize(outcome.runs)
    assert cells["ceiling", "get"].rounds == 1
    table = render(outcome)
    assert "| get | ceiling |" in table and "| list | ceiling |" in table


def test_wrk_summary_line_is_parsed():
    from harness.wrk import parse_output

    out = (
        "Running 1s test @ http://127.0.0.1:1/\n"
        'BENCH_JSON {"requests":120,"duration_us":1000000,"bytes":9000,'
        '"errors":{"connect":0,"read":0,"write":0,"status":2,"timeout":0},'
        '"latency_us":{"p50":800,"p90":1200,"p99":2500,"max":4000,"mean":900.5}}\n'
    )
    result = parse_output(out)
    assert result.requests == 120
    assert result.rps == 120
    assert result.failed == 2
    assert result.latency_us["p99"] == 2500
