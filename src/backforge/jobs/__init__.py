"""Background work: durable jobs (Huey), cron schedules and signed webhooks.

A write's jobs are recorded in the outbox table inside the write's own transaction and handed
to Huey once it commits; `backforge worker FILE` runs them, fires cron ticks, and hands again
whatever a lost process left behind. Handlers receive a `JobContext` (see `jobs.context`).
"""
