from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table

from ..findings import Severity
from ..runner import AuditReport

COLOURS = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def render_table(report: AuditReport, *, width: int = 140, color: bool = False) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=color, no_color=not color)
    table = Table(title=f"backforge audit of {report.target}", show_lines=False, expand=True)
    table.add_column("Severity", no_wrap=True)
    table.add_column("OWASP", no_wrap=True)
    table.add_column("Finding", ratio=3)
    table.add_column("Operation", ratio=2)
    table.add_column("Id", ratio=1)
    for f in report.findings:
        table.add_row(
            f"[{COLOURS[f.severity]}]{f.severity.label}[/]", f.category, f.title, f.operation, f.id
        )
    console.print(table)
    counts = {s: sum(1 for f in report.findings if f.severity == s) for s in Severity}
    summary = ", ".join(f"{n} {s.label}" for s, n in sorted(counts.items(), reverse=True) if n)
    console.print(
        f"{len(report.findings)} findings ({summary or 'none'}) · {report.operations} operations · "
        f"{report.requests} requests · {report.seconds:.1f}s · "
        f"users: {', '.join(report.users) or 'none'}"
    )
    for note in report.notes:
        console.print(f"[dim]note: {note}[/]")
    return buffer.getvalue()
