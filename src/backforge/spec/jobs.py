"""Background work in the declaration: jobs run on collection events, cron schedules, webhooks.

jobs:
  send_receipt: {on: orders.create, handler: shop_hooks.send_receipt, retries: 3}
cron:
  nightly_report: {schedule: "0 3 * * *", handler: shop_hooks.nightly_report}
webhooks:
  order_paid: {on: orders.update, when: 'status = "paid" && old.status != "paid"',
               url_env: ORDER_WEBHOOK_URL, secret_env: ORDER_WEBHOOK_SECRET}
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField

from .errors import Problem, did_you_mean

if TYPE_CHECKING:
    from .model import Spec

OPERATIONS = ("create", "update", "delete")
_EVENT = r"^[a-z][a-z0-9_]{0,62}\.(create|update|delete)$"
_HANDLER = r"^[A-Za-z_][\w]*\.[A-Za-z_]\w*$"
_ENV = r"^[A-Za-z_][A-Za-z0-9_]*$"
# "every 5s" / "every 2m": a fixed interval, for short periods and tests (cron is per minute).
EVERY = re.compile(r"^(?:@?every)\s+(\d+)\s*(s|m|h)$")
_UNITS = {"s": 1, "m": 60, "h": 3600}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Retrying(_Strict):
    retries: int = PydanticField(default=3, ge=0, le=100)
    # Seconds before the first retry; each further retry waits retry_backoff times longer.
    retry_delay: float = PydanticField(default=10.0, ge=0, le=86400)
    retry_backoff: float = PydanticField(default=2.0, ge=1, le=10)


class JobDeclaration(_Retrying):
    """A handler run once per committed write of a collection (`on: orders.create`), or,
    without `on`, whenever code enqueues it (`backforge.jobs.enqueue`)."""

    on: str | None = PydanticField(default=None, pattern=_EVENT)
    handler: str = PydanticField(pattern=_HANDLER)
    # Runs only for the writes this condition admits (see jobs/conditions.py).
    when: str | None = PydanticField(default=None, max_length=2000)

    @property
    def collection(self) -> str | None:
        return self.on.split(".", 1)[0] if self.on else None

    @property
    def operation(self) -> str | None:
        return self.on.split(".", 1)[1] if self.on else None


class CronDeclaration(_Retrying):
    """A handler run on a schedule: five crontab fields in UTC, or `every 30s` / `every 5m`."""

    schedule: str
    handler: str = PydanticField(pattern=_HANDLER)
    retries: int = PydanticField(default=0, ge=0, le=100)


class WebhookDeclaration(_Retrying):
    """A signed POST of each committed write; the URL and secret come from the environment."""

    on: str = PydanticField(pattern=_EVENT)
    when: str | None = PydanticField(default=None, max_length=2000)
    url_env: str = PydanticField(pattern=_ENV)
    secret_env: str = PydanticField(pattern=_ENV)
    retries: int = PydanticField(default=5, ge=0, le=100)
    timeout: float = PydanticField(default=10.0, gt=0, le=120)

    @property
    def collection(self) -> str:
        return self.on.split(".", 1)[0]

    @property
    def operation(self) -> str:
        return self.on.split(".", 1)[1]


def interval_seconds(schedule: str) -> int | None:
    """The period of an `every Ns` schedule, or None for a crontab one."""
    match = EVERY.match(schedule.strip())
    if match is None:
        return None
    return int(match.group(1)) * _UNITS[match.group(2)]


def crontab_fields(schedule: str) -> tuple[str, str, str, str, str]:
    """minute, hour, day, month, day_of_week; ValueError when it is not five fields."""
    fields = schedule.split()
    if len(fields) != 5:
        raise ValueError("a cron schedule has five fields: minute hour day month day-of-week")
    return fields[0], fields[1], fields[2], fields[3], fields[4]


def check_jobs(spec: Spec) -> Iterator[Problem]:
    """References a typed model cannot check: collections, the hooks module, schedules."""
    module = _hooks_module(spec)
    declared = {**spec.jobs, **spec.cron}
    for section, entries in (("jobs", spec.jobs), ("webhooks", spec.webhooks)):
        for name, entry in entries.items():
            if entry.collection is not None and entry.collection not in spec.collections:
                yield Problem(
                    (section, name, "on"),
                    f"unknown collection '{entry.collection}'"
                    + did_you_mean(entry.collection, spec.collections),
                )
    for section in ("jobs", "cron"):
        for name, entry in getattr(spec, section).items():
            wanted = entry.handler.split(".", 1)[0]
            if module is None:
                yield Problem(
                    (section, name, "handler"),
                    "handlers live in the hooks module: declare `hooks: <module>.py`",
                )
            elif wanted != module:
                yield Problem(
                    (section, name, "handler"),
                    f"the handler is a function of the hooks module: '{module}.<function>'",
                )
    for name, entry in spec.cron.items():
        if interval_seconds(entry.schedule) is not None:
            if interval_seconds(entry.schedule) == 0:
                yield Problem(("cron", name, "schedule"), "an interval is at least 1 second")
            continue
        from huey import crontab  # the jobs extra, present whenever cron is declared

        try:
            minute, hour, day, month, weekday = crontab_fields(entry.schedule)
            crontab(minute, hour, day, month, weekday, strict=True)
        except ValueError as exc:
            yield Problem(
                ("cron", name, "schedule"),
                f"'{entry.schedule}' is not a schedule ({exc}); "
                "use five crontab fields such as '0 3 * * *' or 'every 30s'",
            )
    clashes = set(spec.webhooks) & set(declared)
    for name in sorted(clashes):
        yield Problem(("webhooks", name), "a job or cron entry has the same name; rename one")
    overlap = set(spec.jobs) & set(spec.cron)
    for name in sorted(overlap):
        yield Problem(("cron", name), "a job has the same name; rename one")


def _hooks_module(spec: Spec) -> str | None:
    if not spec.hooks:
        return None
    return spec.hooks.rsplit("/", 1)[-1].removesuffix(".py")
