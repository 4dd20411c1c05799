"""JobSystem: records a write's jobs in its transaction, queues them after commit, runs them.

In an app process it only records and queues. In `backforge worker` it also runs jobs
(`run`), and about once a second (`keep`) fires due cron ticks and queues again the jobs
whose holder went quiet (a crashed app between commit and queue, a killed worker).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
from sqlalchemy import Engine, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from ..database import begin_immediate
from ..spec import DeclarationError
from ..spec.jobs import check_jobs
from ..spec.model import Spec
from ..store.events import WriteEvent, current_transaction
from ..store.records import RecordStore
from .context import JobContext
from .cron import Schedule, claim_tick
from .handlers import call, resolve_handlers
from .outbox import Claim, Outbox, new_row, now_utc
from .queue import create_huey
from .tables import CRON_TICKS, DELIVERIES, DONE, OUTBOX
from .webhooks import deliver

logger = logging.getLogger("backforge.jobs")
TASK_NAME = "backforge.run_job"
_JOB_IDS = "_backforge_job_ids"  # set on a WriteEvent by `record`, read after commit
# The job system of each engine, for enqueue() (which finds it from the open transaction).
_systems: weakref.WeakKeyDictionary[Engine, JobSystem] = weakref.WeakKeyDictionary()


def _seconds(variable: str, default: float) -> float:
    value = os.environ.get(variable)
    return float(value) if value else default


def _plain(value: Any) -> Any:
    """The record as JSON values (datetimes as ISO text, decimals as strings)."""

    def default(item: Any) -> Any:
        if isinstance(item, Decimal):
            return str(item)
        raise TypeError

    return orjson.loads(orjson.dumps(value, default=default))


def enqueue(name: str, data: Any = None, *, key: str | None = None) -> str:
    """Queue a declared job from a hook or a custom endpoint, inside its write transaction:
    it runs only if that transaction commits (a worker picks it up within a tick). The same
    `key` queues the job once; it is also the run's idempotency key. Returns the job's id."""
    transaction = current_transaction.get()
    if transaction is None:
        raise RuntimeError("enqueue() runs inside a write (a hook, or store.transaction())")
    system = _systems.get(transaction.connection.engine)
    if system is None or name not in system.spec.jobs:
        raise LookupError(f"no job '{name}' is declared")
    job_id = f"{name}:{key or uuid.uuid4().hex}"
    row = new_row(job_id, "job", name, {"data": _plain(data)}, system.spec.jobs[name], 0)
    row["lease_until"] = row["run_at"]  # no commit hand-off: the worker's clock takes it
    dialect = {"sqlite": sqlite, "postgresql": postgresql}[transaction.connection.dialect.name]
    statement = dialect.insert(system.outbox.table).on_conflict_do_nothing(index_elements=["id"])
    transaction.connection.execute(statement, [row])
    return job_id


class JobSystem:
    def __init__(
        self,
        spec: Spec,
        store: RecordStore,
        declaration_path: str | Path | None = None,
        hooks_module: ModuleType | None = None,
    ):
        problems = list(check_jobs(spec))
        if problems:
            raise DeclarationError(str(declaration_path or "<declaration>"), problems)
        self.spec = spec
        self.store = store
        self.declaration_path = declaration_path
        self.hooks_module = hooks_module
        # How long a worker holds a job without renewing, and how long a committed job may
        # wait for its first hand-off before a worker queues it again.
        self.lease = _seconds("BACKFORGE_JOBS_LEASE", 60.0)
        self.grace = _seconds("BACKFORGE_JOBS_DISPATCH_GRACE", self.lease)
        self.outbox = Outbox(store.engine, store.metadata.tables[OUTBOX])
        self.huey = create_huey(spec.name, declaration_path)
        self._task = self.huey.task(name=TASK_NAME)(self.run)
        self._handlers: dict[str, Callable] | None = None
        self._by_event: dict[tuple[str, str], list[tuple[str, str, Any]]] = {}
        for name, job in spec.jobs.items():
            if job.collection is None or job.operation is None:
                continue  # enqueued by code only
            self._by_event.setdefault((job.collection, job.operation), []).append(
                ("job", name, job)
            )
        for name, hook in spec.webhooks.items():
            self._by_event.setdefault((hook.collection, hook.operation), []).append(
                ("webhook", name, hook)
            )

    def attach(self) -> None:
        _systems[self.store.engine] = self
        if self._by_event:
            self.store.event_listeners.append(self.record)
            self.store.commit_listeners.append(self.dispatch)

    # -- in the write's transaction, and after its commit -------------------------------------

    def record(self, event: WriteEvent) -> None:
        """An outbox row per job of this event, in the write's transaction."""
        wanted = self._by_event.get((event.collection, event.operation))
        if not wanted:
            return
        transaction = current_transaction.get()
        assert transaction is not None, "write events arrive inside their transaction"
        event_id = uuid.uuid4().hex
        described = _plain(
            {
                "id": event_id,
                "collection": event.collection,
                "operation": event.operation,
                "record_id": event.record_id,
                "record": event.record,
                "old": event.old,
                "caller": {"id": event.caller.id, "collection": event.caller.collection},
            }
        )
        rows = []
        for kind, name, declaration in wanted:
            job_id = f"{name}:{event_id}"
            payload: dict[str, Any] = {"event": described}
            if kind == "webhook":
                body = {
                    "id": job_id,
                    "webhook": name,
                    "event": f"{event.collection}.{event.operation}",
                    "created": now_utc().isoformat(),
                    "record": described["record"],
                    "old": described["old"],
                }
                # Fixed now, so every retry sends the same bytes.
                payload = {"body": orjson.dumps(body).decode()}
            rows.append(new_row(job_id, kind, name, payload, declaration, self.grace))
        self.outbox.insert(transaction.connection, rows)
        setattr(event, _JOB_IDS, [row["id"] for row in rows])

    def dispatch(self, event: WriteEvent) -> None:
        """After commit: hand the event's jobs to the queue. A failure here is not lost: the
        rows stay pending and a worker queues them once their grace has passed."""
        for job_id in getattr(event, _JOB_IDS, ()):
            self.enqueue(job_id)

    def enqueue(self, job_id: str, delay: float | None = None) -> None:
        try:
            if delay:
                self._task.schedule(args=(job_id,), delay=delay)
            else:
                self._task(job_id)
        except Exception:
            logger.exception("could not queue job %s; a worker will pick it up later", job_id)

    # -- in the worker ------------------------------------------------------------------------

    def handlers(self) -> dict[str, Callable]:
        if self._handlers is None:
            self._handlers = resolve_handlers(self.spec, self.hooks_module)
        return self._handlers

    def run(self, job_id: str) -> None:
        """One run of a job (the Huey task): claim it, keep the lease fresh, record the outcome."""
        claim = self.outbox.claim(job_id, self.lease)
        if claim is None:
            return  # finished, not due yet, or running elsewhere
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(claim, stop), daemon=True)
        beat.start()
        try:
            self._execute(claim)
        except Exception as exc:
            logger.warning(
                "job %s failed (attempt %d): %s", job_id, claim.attempt, exc, exc_info=True
            )
            stop.set()
            delay = self.outbox.fail(claim, f"{type(exc).__name__}: {exc}", self.grace)
            if delay is None:
                logger.error("job %s is dead after %d failure(s)", job_id, claim.failures + 1)
            else:
                self.enqueue(job_id, delay)
        else:
            stop.set()
            if not self.outbox.finish(claim):
                logger.warning("job %s ran past its lease; another run owns it now", job_id)
        finally:
            stop.set()

    def _execute(self, claim: Claim) -> None:
        if claim.kind == "webhook":
            deliver(
                claim.name,
                self.spec.webhooks[claim.name],
                claim.id,
                claim.attempt,
                claim.payload["body"].encode(),
                self.store.engine,
                self.store.metadata.tables[DELIVERIES],
            )
            return
        context = JobContext(
            self.store,
            name=claim.name,
            kind=claim.kind,
            idempotency_key=claim.id,
            attempt=claim.attempt,
            payload=claim.payload,
        )
        call(self.handlers()[claim.name], context)

    def _heartbeat(self, claim: Claim, stop: threading.Event) -> None:
        while not stop.wait(self.lease / 3):
            try:
                if not self.outbox.extend(claim, self.lease):
                    return
            except Exception:
                logger.exception("could not renew the lease of job %s", claim.id)

    def keep(self, stop: threading.Event, interval: float | None = None) -> None:
        """The worker's clock: due cron ticks, then overdue jobs, about once a second."""
        interval = interval or _seconds("BACKFORGE_JOBS_TICK", 1.0)
        schedules = {name: Schedule(entry) for name, entry in self.spec.cron.items()}
        fired: dict[str, str] = {}
        last_prune = 0.0
        while not stop.is_set():
            now = time.time()
            try:
                for name, schedule in schedules.items():
                    tick = schedule.tick(now)
                    if tick is not None and fired.get(name) != tick:
                        self.fire(name, tick)
                        fired[name] = tick  # not before: a failed attempt is tried again
                self.rescue_overdue()
                if now - last_prune > 3600:
                    last_prune = now
                    self.prune()
            except Exception:
                logger.exception("the jobs clock failed; trying again")
            stop.wait(max(0.05, interval - (time.time() - now)))

    def fire(self, name: str, tick: str) -> bool:
        """Fire one cron tick, unless another process already did."""
        declaration = self.spec.cron[name]
        job_id = f"cron:{name}:{tick}"
        ticks = self.store.metadata.tables[CRON_TICKS]
        with self.store.engine.connect() as connection:
            begin_immediate(connection)
            with connection.begin():
                if not claim_tick(connection, ticks, name, tick):
                    return False
                row = new_row(job_id, "cron", name, {"tick": tick}, declaration, self.grace)
                self.outbox.insert(connection, [row])
        self.enqueue(job_id)
        return True

    def rescue_overdue(self) -> int:
        rescued = 0
        for job_id, status, lease_until in self.outbox.overdue():
            if self.outbox.rescue(job_id, status, lease_until, self.grace):
                logger.info(
                    "queueing job %s (%s, not yet queued or its holder went quiet)", job_id, status
                )
                self.enqueue(job_id)
                rescued += 1
        return rescued

    def prune(self) -> None:
        """Forget finished work after BACKFORGE_JOBS_RETENTION_DAYS (default 7): done and dead
        jobs, their done-once marks, fired cron ticks, webhook deliveries."""
        days = _seconds("BACKFORGE_JOBS_RETENTION_DAYS", 7.0)
        cutoff = dt.datetime.fromtimestamp(time.time() - days * 86400, dt.UTC)
        tables = self.store.metadata.tables
        outbox, done = tables[OUTBOX], tables[DONE]
        old_jobs = select(outbox.c.id).where(
            outbox.c.status.in_(("done", "dead")), outbox.c.updated < cutoff
        )
        with self.store.engine.connect() as connection:
            begin_immediate(connection)
            with connection.begin():
                connection.execute(delete(done).where(done.c.created < cutoff))
                connection.execute(delete(outbox).where(outbox.c.id.in_(old_jobs)))
                for name in (CRON_TICKS, DELIVERIES):
                    connection.execute(delete(tables[name]).where(tables[name].c.created < cutoff))

    def run_worker(self, threads: int = 2) -> None:
        """Consume the queue until SIGINT/SIGTERM; the clock runs beside the consumer."""
        self.handlers()  # fail at start, not at the first job, when a handler is missing
        stop = threading.Event()
        clock = threading.Thread(target=self.keep, args=(stop,), name="jobs-clock", daemon=True)
        consumer = self.huey.create_consumer(
            workers=threads,
            worker_type="thread",
            periodic=False,
            initial_delay=0.1,
            max_delay=_seconds("BACKFORGE_JOBS_POLL", 1.0),
            graceful_signal="TERM",
            # Jobs still running then are cut off; their leases lapse and they run again.
            shutdown_timeout=_seconds("BACKFORGE_JOBS_SHUTDOWN_TIMEOUT", 30.0),
        )
        clock.start()
        try:
            consumer.run()
        finally:
            stop.set()
