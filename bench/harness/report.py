"""Medians over rounds, spread flags, ratios to backforge, and the Markdown table."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from .runner import Outcome, Run
from .servers import WORKLOADS

NOISY = 0.10  # repeats further apart than this (of their median) are flagged
DISTURBED = 0.10  # share of the server's core used by other processes during a run


@dataclass
class Cell:
    server: str
    workload: str
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_s_per_1k: float
    peak_rss_mb: float
    spread: float
    rounds: int
    failed: int
    other_load: float
    other_on_core: float

    @property
    def disturbed(self) -> bool:
        """Other processes took more than 10% of the server's core in some round."""
        return self.other_on_core > DISTURBED

    @property
    def noisy(self) -> bool:
        return self.spread > NOISY


def summarize(runs: list[Run]) -> dict[tuple[str, str], Cell]:
    groups: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.server, run.workload), []).append(run)
    cells = {}
    for (server, workload), rs in groups.items():
        rps = [r.rps for r in rs]
        med = statistics.median(rps)
        cells[server, workload] = Cell(
            server=server,
            workload=workload,
            rps=med,
            p50_ms=statistics.median(r.p50_ms for r in rs),
            p99_ms=statistics.median(r.p99_ms for r in rs),
            cpu_s_per_1k=statistics.median(r.cpu_s_per_1k for r in rs),
            peak_rss_mb=max(r.peak_rss_mb for r in rs),
            spread=(max(rps) - min(rps)) / med if med else 0.0,
            rounds=len(rs),
            failed=sum(r.failed for r in rs),
            other_load=max(r.other_load_during for r in rs),
            other_on_core=max(r.other_on_server_core for r in rs),
        )
    return cells


def ratio(cells: dict, workload: str, peer: str, base: str = "backforge") -> float | None:
    bf, other = cells.get((base, workload)), cells.get((peer, workload))
    if bf is None or other is None or other.rps == 0:
        return None
    return bf.rps / other.rps


def cpu_ratio(cells: dict, workload: str, peer: str, base: str = "backforge") -> float | None:
    """Peer's server CPU per request over backforge's: robust when the core is shared."""
    bf, other = cells.get((base, workload)), cells.get((peer, workload))
    if bf is None or other is None or bf.cpu_s_per_1k == 0:
        return None
    return other.cpu_s_per_1k / bf.cpu_s_per_1k


def render(outcome: Outcome) -> str:
    cells = summarize(outcome.runs)
    plan = outcome.plan
    servers = [s for s in plan.servers if s in outcome.labels]
    workloads = [w for w in WORKLOADS if w in plan.workloads]
    lines = [
        f"**{plan.mode} mode** — {plan.rounds} rounds x {plan.seconds:g} s "
        f"(warm-up {plan.warmup:g} s), {plan.connections} connections, {plan.rows:,} rows; "
        f"median of rounds; {outcome.started} to {outcome.finished}",
        "",
        "| workload | server | req/s | p50 ms | p99 ms | CPU s / 1k req | peak RSS MB "
        "| backforge ÷ server | spread | other load (on server core) |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for workload in workloads:
        for server in servers:
            c = cells.get((server, workload))
            if c is None:
                continue
            r = ratio(cells, workload, server)
            rtxt = "-" if r is None or server == "backforge" else f"{r:.2f}x"
            flag = " ⚠" if c.noisy else ""
            busy = " *" if c.disturbed else ""
            fail = f" ({c.failed} failed)" if c.failed else ""
            lines.append(
                f"| {workload} | {server} | {c.rps:,.0f}{fail} | {c.p50_ms:.2f} | "
                f"{c.p99_ms:.2f} | {c.cpu_s_per_1k:.3f} | {c.peak_rss_mb:.0f} | {rtxt} | "
                f"{c.spread:.0%}{flag} | {c.other_load:.2f} ({c.other_on_core:.2f}){busy} |"
            )
    peers = [s for s in servers if s != "backforge"]
    if "backforge" in servers and peers:
        lines += _ratio_table(cells, "backforge", peers, workloads)
    # backforge on PostgreSQL against the peers it is to beat there: the FastAPI peer on
    # PostgreSQL, and PocketBase on its own SQLite.
    pg_peers = [s for s in ("fastapi-pg", "pocketbase", "fastapi") if s in servers]
    if "backforge-pg" in servers and pg_peers:
        lines += _ratio_table(cells, "backforge-pg", pg_peers, workloads)
    lines += ["", "Servers:"]
    for server in servers:
        notes = "; ".join(outcome.notes.get(server) or [])
        lines.append(f"- {server}: {outcome.labels[server]}" + (f" — {notes}" if notes else ""))
    for server, reason in outcome.skipped.items():
        lines.append(f"- {server}: SKIPPED — {reason}")
    noisy = [c for c in cells.values() if c.noisy]
    failed = [c for c in cells.values() if c.failed]
    disturbed = [c for c in cells.values() if c.disturbed]
    before = [r.other_load_before for r in outcome.runs]
    during = [r.other_load_during for r in outcome.runs]
    waited = sum(r.waited_s for r in outcome.runs)
    if outcome.runs:
        lines += [
            "",
            f"Other load on the machine (cores busy outside the server and wrk): before runs "
            f"median {statistics.median(before):.2f} / max {max(before):.2f}; during runs "
            f"median {statistics.median(during):.2f} / max {max(during):.2f}; "
            f"waited {waited:.0f} s for quiet.",
        ]
    if noisy:
        lines.append(
            "⚠ repeats differ by more than 10%: "
            + ", ".join(f"{c.server}/{c.workload} ({c.spread:.0%})" for c in noisy)
        )
    if disturbed:
        lines.append(
            "* other processes used more than 10% of the server's core in some round of: "
            + ", ".join(f"{c.server}/{c.workload} ({c.other_on_core:.0%})" for c in disturbed)
        )
    if failed:
        lines.append(
            "Failed requests (errors or non-2xx): "
            + ", ".join(f"{c.server}/{c.workload} ({c.failed})" for c in failed)
        )
    m = outcome.machine
    lines.append(
        f"Machine: {m['cpu']}, {m['cpus']} CPUs, {m['memory_gb']} GB, Linux {m['kernel']}; "
        "server pinned to one core, wrk (1 thread) to the other"
        + (f"; both run at {plan.priority}." if plan.priority else ".")
    )
    return "\n".join(lines)


def _ratio_table(cells: dict, base: str, peers: list[str], workloads: list[str]) -> list[str]:
    lines = [
        "",
        f"{base}'s req/s as a multiple of each peer's, same run; in brackets, the peer's "
        f"server CPU per request over {base}'s (the same comparison, less sensitive to "
        "other processes taking the server's core):",
        "",
        "| workload | " + " | ".join(peers) + " |",
        "|---|" + "--:|" * len(peers),
    ]
    for workload in workloads:
        row = []
        for peer in peers:
            r = ratio(cells, workload, peer, base)
            c = cpu_ratio(cells, workload, peer, base)
            row.append("-" if r is None or c is None else f"{r:.2f}x ({c:.2f}x)")
        if any(cell != "-" for cell in row):  # backforge's own workloads have no peer figure
            lines.append(f"| {workload} | " + " | ".join(row) + " |")
    return lines


def render_growth(outcomes: list[Outcome]) -> str:
    """Requests/s and server CPU per request for each server x workload, by row count."""
    sizes = [o.plan.rows for o in outcomes]
    cells = [summarize(o.runs) for o in outcomes]
    keys = sorted({k for c in cells for k in c}, key=lambda k: (k[0], WORKLOADS.index(k[1])))
    head = " | ".join(f"{n:,} rows" for n in sizes)
    lines = [
        f"**growth** — {outcomes[0].plan.rounds} round(s) x {outcomes[0].plan.seconds:g} s per "
        "size; req/s, and server CPU ms per request in brackets",
        "",
        f"| server | workload | {head} |",
        "|---|---|" + "--:|" * len(sizes),
    ]
    for server, workload in keys:
        row = []
        for c in cells:
            cell = c.get((server, workload))
            row.append("-" if cell is None else f"{cell.rps:,.0f} ({cell.cpu_s_per_1k:.2f})")
        lines.append(f"| {server} | {workload} | " + " | ".join(row) + " |")
    loads = [r.other_load_during for o in outcomes for r in o.runs]
    if loads:
        lines.append("")
        lines.append(
            f"Other load during runs: median {statistics.median(loads):.2f}, "
            f"max {max(loads):.2f} cores."
        )
    return "\n".join(lines)
