"""The tables behind background work: the outbox (one row per job, its state), effects done
once per idempotency key, cron ticks already fired, webhook deliveries. They exist when the
declaration has jobs, cron or webhooks, and are migrated like collections (`_bf_jobs_`)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

JOBS_TABLE_PREFIX = "_bf_jobs_"
OUTBOX = JOBS_TABLE_PREFIX + "outbox"
DONE = JOBS_TABLE_PREFIX + "done"
CRON_TICKS = JOBS_TABLE_PREFIX + "cron_ticks"
DELIVERIES = JOBS_TABLE_PREFIX + "webhook_deliveries"


def add_job_tables(metadata: MetaData) -> None:
    outbox = Table(
        OUTBOX,
        metadata,
        # The idempotency key: "<job>:<event id>" or "cron:<name>:<tick>".
        Column("id", String(200), primary_key=True),
        Column("kind", String(16), nullable=False),  # job, cron or webhook
        Column("name", String(63), nullable=False),
        Column("payload", JSON, nullable=False),
        # pending -> running -> done | retrying -> ... -> dead
        Column("status", String(16), nullable=False),
        Column("attempts", Integer, nullable=False, default=0),
        Column("failures", Integer, nullable=False, default=0),
        Column("max_attempts", Integer, nullable=False),
        Column("retry_delay", Float, nullable=False),
        Column("retry_backoff", Float, nullable=False),
        Column("last_error", Text, nullable=True),
        # Epoch seconds: when it may run, and until when its current holder owns it.
        Column("run_at", Float, nullable=False),
        Column("lease_until", Float, nullable=False),
        Column("created", DateTime(timezone=True), nullable=False),
        Column("updated", DateTime(timezone=True), nullable=False),
    )
    Index(f"ix_{OUTBOX}_status_lease_until", outbox.c.status, outbox.c.lease_until)
    Index(f"ix_{OUTBOX}_created", outbox.c.created)
    Table(
        DONE,
        metadata,
        Column("key", String(255), primary_key=True),
        Column("created", DateTime(timezone=True), nullable=False),
    )
    Table(
        CRON_TICKS,
        metadata,
        Column("name", String(63), nullable=False),
        Column("tick", String(32), nullable=False),
        Column("created", DateTime(timezone=True), nullable=False),
        PrimaryKeyConstraint("name", "tick"),
    )
    deliveries = Table(
        DELIVERIES,
        metadata,
        Column("id", String(32), primary_key=True),
        Column("webhook", String(63), nullable=False),
        Column("job_id", String(200), nullable=False),
        Column("attempt", Integer, nullable=False),
        Column("status_code", Integer, nullable=True),
        Column("error", Text, nullable=True),
        Column("created", DateTime(timezone=True), nullable=False),
    )
    Index(f"ix_{DELIVERIES}_created", deliveries.c.created)


def wants_job_tables(spec) -> bool:
    return bool(spec.jobs or spec.cron or spec.webhooks)
