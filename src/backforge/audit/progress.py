"""The audit's progress bar on stderr (rich, from the `[audit]` extra)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

from .client import Exchange
from .runner import Progress


class RichAuditProgress(Progress):
    """A progress bar on stderr: checks done, the current check, requests sent."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bar = RichProgress(
            TextColumn("[bold]audit[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[check]}"),
            TextColumn("[dim]{task.fields[requests]} requests[/]"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task = None
        self.requests = 0

    def start(self, total_checks: int, max_requests: int) -> None:
        self.bar.start()
        self.task = self.bar.add_task("audit", total=total_checks, check="", requests=0)

    def check(self, name: str) -> None:
        if self.task is not None:
            if self.bar.tasks[0].fields["check"]:
                self.bar.advance(self.task)
            self.bar.update(self.task, check=name)

    def request(self, exchange: Exchange) -> None:
        self.requests += 1
        if self.task is not None:
            self.bar.update(self.task, requests=self.requests)

    def stop(self) -> None:
        self.bar.stop()
