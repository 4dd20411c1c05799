"""JobSystem: records a write's jobs in its transaction, queues them after commit, runs them.

In an app process it only records and queues. In `backforge worker` it also runs jobs
(`run`, the Huey task), with a clock beside the consumer (`jobs.worker`).
"""

from __future__ import annotations

import logging
import threading
import uuid
import weakref
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql, sqlite

from .. import clock
from ..spec import DeclarationError
from ..spec.jobs import check_jobs
from ..spec.model import Spec
from ..store.events import WriteEvent, current_transaction
from ..store.records import RecordStore
from .conditions import Condition, check_conditions
from .context import JobContext
from .handlers import call, resolve_handlers
from .outbox import Claim, Outbox, new_row
from .queue import create_huey, env_seconds
from .tables import DELIVERIES, OUTBOX
from .webhooks import deliver

logger = logging.getLogger("backforge.jobs")
TASK_NAME = "backforge.run_job"
_JOB_IDS = "_backforge_job_ids"  # set on a WriteEvent by `record`, read after commit
# A job or webhook that an event of its collection queues: (kind, name, declaration, `when`).
_Subscriber = tuple[str, str, Any, Condition | None]
# The job system of each engine, for enqueue() (which finds it from the open transaction).
_systems: weakref.WeakKeyDictionary[Engine, JobSystem] = weakref.WeakKeyDictionary()


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
        problems = list(check_jobs(spec)) + check_conditions(spec, store.tables)
        if problems:
            raise DeclarationError(str(declaration_path or "<declaration>"), problems)
        self.spec = spec
        self.store = store
        self.declaration_path = declaration_path
        self.hooks_module = hooks_module
        # How long a worker holds a job without renewing, and how long a committed job may
        # wait for its first hand-off before a worker queues it again.
        self.lease = env_seconds("BACKFORGE_JOBS_LEASE", 60.0)
        self.grace = env_seconds("BACKFORGE_JOBS_DISPATCH_GRACE", self.lease)
        self.outbox = Outbox(store.engine, store.metadata.tables[OUTBOX])
        self.huey = create_huey(spec.name, declaration_path)
        self._task = self.huey.task(name=TASK_NAME)(self.run)
        self._handlers: dict[str, Callable] | None = None
        self._by_event: dict[tuple[str, str], list[_Subscriber]] = {}
        subscribers = [("job", n, j) for n, j in spec.jobs.items() if j.on is not None]
        subscribers += [("webhook", n, w) for n, w in spec.webhooks.items()]
        for kind, name, declaration in subscribers:
            collection, operation = declaration.collection, declaration.operation
            when = declaration.when
            condition = None
            if when is not None:
                condition = Condition(spec, store.tables, store.access.hidden, collection, when)
            self._by_event.setdefault((collection, operation), []).append(
                (kind, name, declaration, condition)
            )

    def attach(self) -> None:
        _systems[self.store.engine] = self
        if self._by_event:
            self.store.events.on_written(self.record)
            self.store.events.on_committed(self.dispatch)

    # -- in the write's transaction, and after its commit -------------------------------------

    def record(self, event: WriteEvent) -> None:
        """An outbox row per job of this event, in the write's transaction."""
        subscribers = self._by_event.get((event.collection, event.operation))
        if not subscribers:
            return
        transaction = current_transaction.get()
        assert transaction is not None, "write events arrive inside their transaction"
        wanted = [
            (kind, name, declaration)
            for kind, name, declaration, condition in subscribers
            if condition is None or condition.admits(transaction.connection, event)
        ]
        if not wanted:
            return
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
                    "created": clock.now().isoformat(),
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

    def run_worker(self, threads: int = 2) -> None:
        """Consume the queue until SIGINT/SIGTERM, with the clock beside it (see jobs.worker)."""
        from .worker import run_worker

        run_worker(self, threads)

    def prune(self) -> None:
        from .worker import prune

        prune(self)

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
