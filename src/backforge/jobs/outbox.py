"""The outbox: one row per job, written in the transaction that caused it, then its ledger.

States: pending (waiting for a worker) -> running (leased by one worker) -> done, or
retrying (a later run is due) -> ... -> dead (no tries left). A row whose lease ran out
(its worker died) is handed out again; the `attempts` count fences a stale holder off.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Table, insert, select, update

from .. import clock
from ..database import begin_immediate

TERMINAL = ("done", "dead")


@dataclass
class Claim:
    """A run of a job: the row as it was claimed, and the attempt number that fences it."""

    id: str
    kind: str
    name: str
    payload: dict[str, Any]
    attempt: int
    failures: int
    max_attempts: int
    retry_delay: float
    retry_backoff: float


def new_row(
    job_id: str,
    kind: str,
    name: str,
    payload: dict[str, Any],
    declaration: Any,
    dispatch_grace: float,
) -> dict[str, Any]:
    now = time.time()
    stamp = clock.now()
    return {
        "id": job_id,
        "kind": kind,
        "name": name,
        "payload": payload,
        "status": "pending",
        "attempts": 0,
        "failures": 0,
        "max_attempts": declaration.retries + 1,
        "retry_delay": declaration.retry_delay,
        "retry_backoff": declaration.retry_backoff,
        "last_error": None,
        "run_at": now,
        # Until then the committing process is trusted to hand it to the queue.
        "lease_until": now + dispatch_grace,
        "created": stamp,
        "updated": stamp,
    }


class Outbox:
    def __init__(self, engine: Engine, table: Table):
        self.engine = engine
        self.table = table

    def insert(self, connection: Connection, rows: list[dict[str, Any]]) -> None:
        connection.execute(insert(self.table), rows)

    def _write(self):
        connection = self.engine.connect()
        begin_immediate(connection)
        return connection

    def claim(self, job_id: str, lease: float) -> Claim | None:
        """Take the job for one run, unless it is finished, not due, or held by a live worker."""
        t = self.table
        now = time.time()
        runnable = (t.c.status.in_(("pending", "retrying")) & (t.c.run_at <= now + 0.5)) | (
            (t.c.status == "running") & (t.c.lease_until < now)
        )
        with self._write() as connection, connection.begin():
            row = connection.execute(select(t).where(t.c.id == job_id, runnable)).mappings().first()
            if row is None:
                return None
            attempt = row["attempts"] + 1
            taken = connection.execute(
                update(t)
                .where(t.c.id == job_id, t.c.attempts == row["attempts"])
                .values(
                    status="running", attempts=attempt, lease_until=now + lease, updated=clock.now()
                )
            )
            if taken.rowcount != 1:
                return None
        return Claim(
            id=row["id"],
            kind=row["kind"],
            name=row["name"],
            payload=row["payload"],
            attempt=attempt,
            failures=row["failures"],
            max_attempts=row["max_attempts"],
            retry_delay=row["retry_delay"],
            retry_backoff=row["retry_backoff"],
        )

    def _held(self, claim: Claim):
        t = self.table
        return (t.c.id == claim.id, t.c.status == "running", t.c.attempts == claim.attempt)

    def extend(self, claim: Claim, lease: float) -> bool:
        with self._write() as connection, connection.begin():
            statement = update(self.table).where(*self._held(claim))
            result = connection.execute(statement.values(lease_until=time.time() + lease))
            return result.rowcount == 1

    def finish(self, claim: Claim) -> bool:
        with self._write() as connection, connection.begin():
            statement = update(self.table).where(*self._held(claim))
            values = {"status": "done", "last_error": None, "updated": clock.now()}
            return connection.execute(statement.values(**values)).rowcount == 1

    def fail(self, claim: Claim, error: str, dispatch_grace: float) -> float | None:
        """Record a failed run: the delay before the next one, or None when it is now dead."""
        failures = claim.failures + 1
        values: dict[str, Any] = {"failures": failures, "last_error": error[:2000]}
        values["updated"] = clock.now()
        delay: float | None = None
        if failures >= claim.max_attempts:
            values["status"] = "dead"
        else:
            delay = min(claim.retry_delay * claim.retry_backoff ** (failures - 1), 86400.0)
            run_at = time.time() + delay
            values.update(status="retrying", run_at=run_at, lease_until=run_at + dispatch_grace)
        with self._write() as connection, connection.begin():
            statement = update(self.table).where(*self._held(claim)).values(**values)
            if connection.execute(statement).rowcount == 0:
                return None  # another worker holds it now; its outcome counts
        return delay

    def overdue(self, limit: int = 100) -> list[tuple[str, str, float]]:
        """Unfinished jobs whose holder (a committing process or a worker) went quiet."""
        t = self.table
        query = (
            select(t.c.id, t.c.status, t.c.lease_until)
            .where(t.c.status.not_in(TERMINAL), t.c.lease_until < time.time())
            .order_by(t.c.lease_until)
            .limit(limit)
        )
        with self.engine.connect() as connection:
            return [tuple(row) for row in connection.execute(query)]

    def rescue(self, job_id: str, status: str, lease_until: float, grace: float) -> bool:
        """Take an overdue job back for the queue; only one process wins it."""
        t = self.table
        now = time.time()
        values: dict[str, Any] = {"lease_until": now + grace, "updated": clock.now()}
        if status == "running":
            values.update(status="pending", run_at=now, last_error="interrupted: worker lost")
        with self._write() as connection, connection.begin():
            statement = update(t).where(
                t.c.id == job_id, t.c.status == status, t.c.lease_until == lease_until
            )
            return connection.execute(statement.values(**values)).rowcount == 1

    def revive(self, job_id: str) -> bool:
        """A dead job gets a fresh set of tries (an admin's decision); the worker's clock
        queues it within a tick."""
        now = time.time()
        values = {"status": "pending", "failures": 0, "run_at": now, "lease_until": now}
        t = self.table
        with self._write() as connection, connection.begin():
            statement = update(t).where(t.c.id == job_id, t.c.status == "dead")
            return connection.execute(statement.values(**values, updated=clock.now())).rowcount == 1
