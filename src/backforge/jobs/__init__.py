"""Background work: durable jobs (Huey), cron schedules and signed webhooks.

A write's jobs are recorded in the outbox table inside the write's own transaction and handed
to Huey once it commits; `backforge worker FILE` runs them, fires cron ticks, and hands again
whatever a lost process left behind. Handlers receive a `JobContext` (see `jobs.context`).
"""


def enqueue(name: str, data=None, *, key: str | None = None) -> str:
    """Queue a declared job from a hook or custom endpoint; see `jobs.system.enqueue`."""
    from .system import enqueue as enqueue_job

    return enqueue_job(name, data, key=key)
