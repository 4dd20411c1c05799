"""Login throttling per account and per IP, shared by every process through the database."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, Table, delete, insert, select, update

from .. import clock
from .errors import LockedOut

IP_FACTOR = 5  # an address may fail this many times more often than one account


class LoginThrottle:
    def __init__(self, table: Table, max_failures: int, window_seconds: int):
        self.table = table
        self.max_failures = max_failures
        self.window = dt.timedelta(seconds=window_seconds)

    def check(self, connection: Connection, keys: dict[str, int], now: dt.datetime) -> None:
        """Raise LockedOut when any key (account, ip) is locked."""
        rows = connection.execute(
            select(self.table.c.key, self.table.c.locked_until).where(self.table.c.key.in_(keys))
        ).all()
        for _key, locked_until in rows:
            if locked_until is not None and clock.aware(locked_until) > now:
                raise LockedOut(int((clock.aware(locked_until) - now).total_seconds()) + 1)

    def fail(self, connection: Connection, keys: dict[str, int], now: dt.datetime) -> None:
        """Count a failure for each key; lock a key that reached its limit in the window."""
        for key, factor in keys.items():
            row = connection.execute(select(self.table).where(self.table.c.key == key)).first()
            limit = self.max_failures * factor
            if row is None or clock.aware(row.window_start) + self.window < now:
                connection.execute(delete(self.table).where(self.table.c.key == key))
                connection.execute(
                    insert(self.table).values(key=key, count=1, window_start=now, locked_until=None)
                )
                count = 1
            else:
                count = row.count + 1
                connection.execute(
                    update(self.table).where(self.table.c.key == key).values(count=count)
                )
            if count >= limit:
                connection.execute(
                    update(self.table)
                    .where(self.table.c.key == key)
                    .values(locked_until=now + self.window)
                )

    def succeed(self, connection: Connection, account_key: str) -> None:
        connection.execute(delete(self.table).where(self.table.c.key == account_key))
