"""`backforge worker`: the Huey consumer runs jobs; beside it, a clock fires due cron ticks,
queues again the jobs whose holder went quiet, and forgets old finished work."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from ..database import begin_immediate
from .cron import Schedule, claim_tick
from .outbox import new_row
from .queue import env_seconds
from .tables import CRON_TICKS, DELIVERIES, DONE, OUTBOX

if TYPE_CHECKING:
    from .system import JobSystem

logger = logging.getLogger("backforge.jobs")


def run_worker(system: JobSystem, threads: int = 2) -> None:
    """Consume the queue until SIGINT/SIGTERM; the clock runs beside the consumer."""
    system.handlers()  # fail at start, not at the first job, when a handler is missing
    stop = threading.Event()
    clock = threading.Thread(target=keep, args=(system, stop), name="jobs-clock", daemon=True)
    consumer = system.huey.create_consumer(
        workers=threads,
        worker_type="thread",
        periodic=False,  # cron is ours: Huey's periodic tasks would fire in every consumer
        initial_delay=0.1,
        max_delay=env_seconds("BACKFORGE_JOBS_POLL", 1.0),
        graceful_signal="TERM",
        # Jobs still running then are cut off; their leases lapse and they run again.
        shutdown_timeout=env_seconds("BACKFORGE_JOBS_SHUTDOWN_TIMEOUT", 30.0),
    )
    clock.start()
    try:
        consumer.run()
    finally:
        stop.set()


def keep(system: JobSystem, stop: threading.Event, interval: float | None = None) -> None:
    """The worker's clock: due cron ticks, then overdue jobs, about once a second."""
    interval = interval or env_seconds("BACKFORGE_JOBS_TICK", 1.0)
    schedules = {name: Schedule(entry) for name, entry in system.spec.cron.items()}
    fired: dict[str, str] = {}
    last_prune = 0.0
    while not stop.is_set():
        now = time.time()
        try:
            for name, schedule in schedules.items():
                tick = schedule.tick(now)
                if tick is not None and fired.get(name) != tick:
                    fire(system, name, tick)
                    fired[name] = tick  # not before: a failed attempt is tried again
            rescue_overdue(system)
            if now - last_prune > 3600:
                last_prune = now
                prune(system)
        except Exception:
            logger.exception("the jobs clock failed; trying again")
        stop.wait(max(0.05, interval - (time.time() - now)))


def fire(system: JobSystem, name: str, tick: str) -> bool:
    """Fire one cron tick, unless another process already did."""
    declaration = system.spec.cron[name]
    job_id = f"cron:{name}:{tick}"
    ticks = system.store.metadata.tables[CRON_TICKS]
    with system.store.engine.connect() as connection:
        begin_immediate(connection)
        with connection.begin():
            if not claim_tick(connection, ticks, name, tick):
                return False
            row = new_row(job_id, "cron", name, {"tick": tick}, declaration, system.grace)
            system.outbox.insert(connection, [row])
    system.enqueue(job_id)
    return True


def rescue_overdue(system: JobSystem) -> int:
    rescued = 0
    for job_id, status, lease_until in system.outbox.overdue():
        if system.outbox.rescue(job_id, status, lease_until, system.grace):
            logger.info(
                "queueing job %s (%s: not yet queued, or its holder went quiet)", job_id, status
            )
            system.enqueue(job_id)
            rescued += 1
    return rescued


def prune(system: JobSystem) -> None:
    """Forget finished work after BACKFORGE_JOBS_RETENTION_DAYS (default 7): done and dead
    jobs, done-once marks, fired cron ticks, webhook deliveries."""
    days = env_seconds("BACKFORGE_JOBS_RETENTION_DAYS", 7.0)
    cutoff = dt.datetime.fromtimestamp(time.time() - days * 86400, dt.UTC)
    tables = system.store.metadata.tables
    outbox, done = tables[OUTBOX], tables[DONE]
    old_jobs = select(outbox.c.id).where(
        outbox.c.status.in_(("done", "dead")), outbox.c.updated < cutoff
    )
    with system.store.engine.connect() as connection:
        begin_immediate(connection)
        with connection.begin():
            connection.execute(delete(done).where(done.c.created < cutoff))
            connection.execute(delete(outbox).where(outbox.c.id.in_(old_jobs)))
            for name in (CRON_TICKS, DELIVERIES):
                connection.execute(delete(tables[name]).where(tables[name].c.created < cutoff))
