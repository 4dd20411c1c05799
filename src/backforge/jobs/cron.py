"""Cron: the tick a schedule is in now, and firing it once across every worker process.

Each worker looks at the clock about once a second; the first to insert (name, tick) into the
ticks table fires the job, the others find the row and do nothing. Crontab schedules are per
minute, in UTC; `every Ns` schedules tick on multiples of N seconds since the epoch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from huey import crontab
from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

from .. import clock
from ..spec.jobs import CronDeclaration, crontab_fields, interval_seconds


class Schedule:
    def __init__(self, declaration: CronDeclaration):
        self.every = interval_seconds(declaration.schedule)
        self._matches: Callable[[dt.datetime], bool] | None = None
        if self.every is None:
            self._matches = crontab(*crontab_fields(declaration.schedule), strict=True)

    def tick(self, now: float) -> str | None:
        """The tick that `now` (epoch seconds) falls in, or None between crontab matches."""
        if self.every is not None:
            start = int(now // self.every) * self.every
            return dt.datetime.fromtimestamp(start, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        minute = dt.datetime.fromtimestamp(now, dt.UTC).replace(second=0, microsecond=0)
        assert self._matches is not None
        # huey's crontab compares naive datetimes.
        if not self._matches(minute.replace(tzinfo=None)):
            return None
        return minute.strftime("%Y-%m-%dT%H:%MZ")


def claim_tick(connection: Connection, ticks: Table, name: str, tick: str) -> bool:
    """Record the tick as fired; False when another process fired it first."""
    dialect = {"sqlite": sqlite, "postgresql": postgresql}[connection.dialect.name]
    statement = (
        dialect.insert(ticks)
        .values(name=name, tick=tick, created=clock.now())
        .on_conflict_do_nothing(index_elements=["name", "tick"])
        .returning(ticks.c.name)  # rowcount is -1 here on psycopg; a returned row is not
    )
    return connection.execute(statement).first() is not None
