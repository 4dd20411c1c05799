"""Rounds of measured runs across servers, with quiet-machine checks before each run."""

from __future__ import annotations

import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import priority, procstat
from .dataset import expected_counts, write_dataset
from .servers import (
    ALL,
    FULL,
    OPTIONAL_WORKLOADS,
    QUICK,
    WORKLOADS,
    Context,
    Running,
    Server,
    ServerUnavailable,
    free_port,
)
from .wrk import WrkError, run_wrk


@dataclass
class Plan:
    servers: list[str]
    workloads: list[str]
    rounds: int
    seconds: float
    warmup: float
    connections: int = 32
    rows: int = 10_000
    busy_threshold: float = 0.25  # cores of other load above which a run waits
    max_wait: float = 20.0  # seconds one run waits for quiet before running anyway
    wait_budget: float = 120.0  # seconds all runs together may wait (the load may not stop)
    mode: str = "custom"
    priority: str = ""  # the nice prefix the servers and wrk ran under


@dataclass
class Run:
    server: str
    workload: str
    round: int
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_s_per_1k: float
    peak_rss_mb: float
    requests: int
    failed: int
    other_load_before: float
    other_load_during: float
    waited_s: float
    client_cpu: float  # cores used by wrk and the harness: near 1.0 would mean wrk is the limit
    other_on_server_core: float  # share of the server's core taken by other processes


@dataclass
class Outcome:
    plan: Plan
    machine: dict
    runs: list[Run] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    started: str = ""
    finished: str = ""

    def to_json(self) -> dict:
        return asdict(self)


def machine_info() -> dict:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def pick_cpus() -> tuple[int | None, int | None]:
    """(server core, wrk core): the first two cores this process may use."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return cpus[0], cpus[1]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Bench:
    def __init__(self, plan: Plan, work: Path):
        self.plan = plan
        self.work = work
        self.server_cpu, self.wrk_cpu = pick_cpus()
        self.outcome = Outcome(plan=plan, machine=machine_info())
        self.wait_left = plan.wait_budget
        plan.priority = priority.describe()

    def pin_self(self) -> None:
        """Keep the harness itself (its samplers, wrk's parent) off the server's core."""
        if self.wrk_cpu is not None:
            os.sched_setaffinity(0, {self.wrk_cpu})

    def setup(self, peers_python: Path) -> list[Server]:
        dataset = self.work / "dataset.json"
        posts = write_dataset(dataset, self.plan.rows)
        ctx = Context(
            work=self.work,
            dataset=dataset,
            ids=dataset.with_suffix(".ids"),
            expected=expected_counts(posts),
            peers_python=peers_python,
            server_cpu=self.server_cpu,
            sample_id=posts[len(posts) // 2]["id"],
        )
        ready = []
        for name in self.plan.servers:
            server = ALL[name]()
            log(f"preparing {name}")
            try:
                server.prepare(ctx)
                server.restore()
                running = server.start(free_port())
                try:
                    server.check(running.base_url)
                finally:
                    running.stop()
            except ServerUnavailable as exc:
                log(f"skipping {name}: {exc}")
                self.outcome.skipped[name] = str(exc)
                continue
            except (RuntimeError, AssertionError, OSError) as exc:
                log(f"skipping {name}: it failed its set-up or check: {exc}")
                self.outcome.skipped[name] = f"failed set-up or check: {exc}"
                continue
            self.outcome.labels[name] = server.label
            self.outcome.notes[name] = server.notes
            ready.append(server)
        return ready

    def wait_quiet(self, pid: int) -> tuple[float, float]:
        """(other load in cores, seconds waited): waits while other work is running."""
        waited = 0.0
        load = procstat.other_load(pid, 0.5)
        limit = min(self.plan.max_wait, self.wait_left)
        while load > self.plan.busy_threshold and waited < limit:
            time.sleep(1.5)
            waited += 2.0
            load = procstat.other_load(pid, 0.5)
        self.wait_left = max(0.0, self.wait_left - waited)
        if waited:
            log(f"  waited {waited:.0f} s for a quiet machine (other load {load:.2f} cores)")
        return load, waited

    def _measure_and_log(self, server: Server, running: Running, workload: str, rnd: int) -> None:
        try:
            run = self.measure(server, running, workload, rnd)
        except WrkError as exc:
            log(f"  {server.name} {workload}: {exc}")
            return
        self.outcome.runs.append(run)
        flag = f"  FAILED {run.failed}" if run.failed else ""
        log(
            f"round {rnd + 1} {server.name:12} {workload:15}"
            f"{run.rps:10,.0f} req/s  p99 {run.p99_ms:6.1f} ms  "
            f"wrk {run.client_cpu:.2f}  other {run.other_load_during:.2f} "
            f"(on server core {run.other_on_server_core:.2f}){flag}"
        )

    def measure(self, server: Server, running: Running, workload: str, rnd: int) -> Run:
        assert server.ctx is not None
        request = server.requests()[workload]
        kw = dict(
            token=server.token,
            ids_file=server.ctx.ids,
            connections=self.plan.connections,
            cpu=self.wrk_cpu,
        )
        before, waited = self.wait_quiet(running.pid)
        if self.plan.warmup > 0:
            run_wrk(running.base_url, request, self.plan.warmup, **kw)
        meter = procstat.LoadMeter(self.server_cpu)
        sampler = procstat.RssSampler(running.pid)
        cpu0 = procstat.tree_cpu_seconds(running.pid)
        own0 = procstat.own_and_children_cpu()
        meter.start()
        sampler.start()
        result = run_wrk(running.base_url, request, self.plan.seconds, **kw)
        busy, core_busy, wall = meter.stop()
        peak_kb = sampler.finish()
        server_cpu = procstat.tree_cpu_seconds(running.pid) - cpu0
        own = procstat.own_and_children_cpu() - own0
        during = max(0.0, (busy - server_cpu - own) / wall) if wall > 0 else 0.0
        # Other work that ran on the server's own core took time from the server.
        on_core = max(0.0, (core_busy - server_cpu) / wall) if wall > 0 else 0.0
        return Run(
            server=server.name,
            workload=workload,
            round=rnd,
            rps=result.rps,
            p50_ms=result.latency_us["p50"] / 1000,
            p99_ms=result.latency_us["p99"] / 1000,
            cpu_s_per_1k=server_cpu / result.requests * 1000 if result.requests else 0.0,
            peak_rss_mb=peak_kb / 1024,
            requests=result.requests,
            failed=result.failed,
            other_load_before=before,
            other_load_during=during,
            waited_s=waited,
            client_cpu=own / wall if wall > 0 else 0.0,
            other_on_server_core=on_core,
        )

    def run(self, servers: list[Server]) -> Outcome:
        """Rounds; in each, every server runs each workload in turn, back to back.

        All servers of a round are started on freshly restored databases and stay up
        (idle, on the server core) while the others are measured, so that the runs
        compared for one workload are minutes apart at most, not a whole round.
        """
        self.outcome.started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        # create mutates the database, so it always runs last in a round.
        workloads = sorted(self.plan.workloads, key=lambda w: w == "create")
        for rnd in range(self.plan.rounds):
            order = servers if rnd % 2 == 0 else list(reversed(servers))
            running: dict[str, Running] = {}
            try:
                for server in order:
                    server.restore()
                    running[server.name] = server.start(free_port())
                for workload in workloads:
                    for server in order:
                        if workload not in server.requests():
                            continue
                        self._measure_and_log(server, running[server.name], workload, rnd)
            finally:
                for r in running.values():
                    r.stop()
        self.outcome.finished = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        return self.outcome


def plan_for(mode: str, servers: list[str] | None, workloads: list[str] | None) -> Plan:
    if mode == "quick":
        plan = Plan(servers=list(QUICK), workloads=[], rounds=2,
                    seconds=5, warmup=1, max_wait=10, wait_budget=60, mode="quick")  # fmt: skip
    else:
        plan = Plan(servers=list(FULL), workloads=[], rounds=3, seconds=10, warmup=3,
                    max_wait=30, wait_budget=300, mode="full")  # fmt: skip
    default = [w for w in WORKLOADS if mode == "full" or w not in OPTIONAL_WORKLOADS]
    plan.workloads = list(workloads or default)
    if servers:
        plan.servers = servers
    return plan
