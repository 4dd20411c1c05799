"""Cron: each tick fires once, however many worker processes are running.

The schedule is `every 1s` (backforge's interval form; crontab schedules tick per minute),
so that a test sees several ticks in a few seconds.
"""

from __future__ import annotations

from collections import Counter

import pytest

from backforge.jobs.cron import Schedule
from backforge.spec.jobs import CronDeclaration

from .conftest import wait_for


def test_each_tick_fires_once_with_two_workers(db_url, project):
    clock = project(
        cron={"beat": {"schedule": "every 1s", "handler": "job_hooks.beat"}}, database=db_url
    )
    first, second = clock.start_worker(), clock.start_worker()
    # Both workers are up and looking at the clock (each fires or skips every tick).
    wait_for(lambda: clock.logs().count("Huey consumer started") == 2, "two workers")
    started = len(clock.rows("ticks"))
    wait_for(lambda: len(clock.rows("ticks")) >= started + 4, "four more ticks", deadline=40)
    assert first.poll() is None and second.poll() is None
    ticks = Counter(row["tick"] for row in clock.rows("ticks"))
    assert ticks and max(ticks.values()) == 1, ticks
    jobs = [j for j in clock.jobs() if j["kind"] == "cron"]
    assert len(jobs) == len({j["id"] for j in jobs}) >= len(ticks)


def test_crontab_schedules_tick_per_matching_minute():
    nightly = Schedule(CronDeclaration(schedule="0 3 * * *", handler="m.f"))
    three = 1_780_000_000 - 1_780_000_000 % 86400 + 3 * 3600  # 03:00 UTC on some day
    assert nightly.tick(three + 59) == nightly.tick(three) is not None
    assert nightly.tick(three + 60) is None
    assert nightly.tick(three - 1) is None
    every = Schedule(CronDeclaration(schedule="every 5s", handler="m.f"))
    assert every.tick(100.0) == every.tick(104.9) != every.tick(105.0)


@pytest.mark.parametrize("schedule", ["0 3 * *", "61 * * * *", "every 0s", "sometimes"])
def test_a_bad_schedule_is_refused_with_its_place(project, schedule):
    from backforge.spec import DeclarationError

    with pytest.raises(DeclarationError) as caught:
        project(cron={"beat": {"schedule": schedule, "handler": "job_hooks.beat"}})
    assert caught.value.problems[0].path == ("cron", "beat", "schedule")
