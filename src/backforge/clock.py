"""The time as backforge stores it: aware datetimes in UTC. SQLite reads them back naive (still
UTC), so a value read from the database is made aware before it is compared or shown."""

from __future__ import annotations

import datetime as dt


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def aware(value: dt.datetime) -> dt.datetime:
    """`value` with its time zone: UTC where the database gave none back."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
