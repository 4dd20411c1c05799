#!/usr/bin/env python3
"""Benchmark backforge against PocketBase and hand-written Python peers.

    python bench/run.py --quick      # ~4 min: backforge, PocketBase, ceiling; 2 x 5 s
    python bench/run.py              # full: every server, 3 x 10 s
    python bench/run.py --servers ceiling --workloads get --rounds 1 --seconds 2
    python bench/run.py --growth 10000,100000,1000000 --rounds 1   # cost per request vs rows

Needs wrk (apt-get install -y wrk) and Linux. The peers' virtualenv is created by
bench/setup.sh on first use. Results go to bench/results/<time>-<mode>.{json,md}.
Load is only ever sent to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.report import render, render_growth
from harness.runner import Bench, Outcome, Plan, log, plan_for
from harness.servers import ALL, BENCH_DIR, WORKLOADS, python_for_peers
from harness.wrk import wrk_path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="backforge, PocketBase, ceiling; 2 x 5 s")
    p.add_argument("--servers", help="comma-separated: " + ",".join(ALL))
    p.add_argument("--workloads", help="comma-separated: " + ",".join(WORKLOADS))
    p.add_argument("--rounds", type=int)
    p.add_argument("--seconds", type=float, help="length of each measured run")
    p.add_argument("--warmup", type=float, help="length of the warm-up before each run")
    p.add_argument("--connections", type=int)
    p.add_argument("--rows", type=int, help="rows in the data set (default 10,000)")
    p.add_argument("--max-wait", type=float, help="seconds one run waits for a quiet machine")
    p.add_argument("--wait-budget", type=float, help="seconds all runs may wait in total")
    p.add_argument(
        "--growth",
        help="row counts to run in turn, e.g. 10000,100000,1000000 (default servers backforge,"
        "pocketbase; workloads list,list-nototal,get)",
    )
    p.add_argument("--out", type=Path, default=BENCH_DIR / "results")
    p.add_argument("--work", type=Path, default=BENCH_DIR / ".work" / "run")
    return p.parse_args(argv)


def measure(plan: Plan, work: Path) -> Outcome | None:
    work.mkdir(parents=True, exist_ok=True)
    bench = Bench(plan, work)
    bench.pin_self()
    ready = bench.setup(python_for_peers())
    if not ready:
        print("no server could be started", file=sys.stderr)
        return None
    return bench.run(ready)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if wrk_path() is None:
        print("wrk is not installed: apt-get update && apt-get install -y wrk", file=sys.stderr)
        return 2
    servers = args.servers.split(",") if args.servers else None
    workloads = args.workloads.split(",") if args.workloads else None
    for name in servers or []:
        if name not in ALL:
            print(f"unknown server {name!r}; known: {', '.join(ALL)}", file=sys.stderr)
            return 2
    if args.growth:
        servers = servers or ["backforge", "pocketbase"]
        workloads = workloads or ["list", "list-nototal", "get"]
    plan = plan_for("quick" if args.quick else "full", servers, workloads)
    if servers or workloads:
        plan.mode += " (subset)"
    for name in ("rounds", "seconds", "warmup", "connections", "rows", "max_wait", "wait_budget"):
        value = getattr(args, name)
        if value is not None:
            setattr(plan, name, value)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"{time.strftime('%Y%m%d-%H%M%S')}-{plan.mode.split()[0]}"
    if args.growth:
        outcomes = []
        for rows in [int(n) for n in args.growth.split(",")]:
            log(f"growth: {rows:,} rows")
            plan.rows = rows
            outcome = measure(replace(plan), args.work / f"rows-{rows}")
            if outcome is None:
                return 1
            outcomes.append(outcome)
        table = render_growth(outcomes)
        data = [o.to_json() for o in outcomes]
        stem = stem.with_name(stem.name.replace("-full", "-growth"))
    else:
        outcome = measure(plan, args.work)
        if outcome is None:
            return 1
        table = render(outcome)
        data = outcome.to_json()
    stem.with_suffix(".json").write_text(json.dumps(data, indent=1))
    stem.with_suffix(".md").write_text(table + "\n")
    print()
    print(table)
    log(f"results: {stem}.json, {stem}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
