"""Serial numbers: an int field the store numbers 1, 2, 3... on create.

Each serial field has a counter row in `_bf_serials`, moved on in the creating transaction: a
create that rolls back gives its number back, a deleted record's number is never given again,
and on PostgreSQL the counter row's lock orders concurrent creates across processes. The first
number, and any after rows written around the store, start past the highest one stored.

The number is taken before the create's hooks run (they see it), so on PostgreSQL the creates
of one collection wait for each other's transactions, hooks included: keep those hooks short.
"""

from __future__ import annotations

from sqlalchemy import Connection, Table, case, func, select
from sqlalchemy.dialects import postgresql, sqlite

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def next_serial(connection: Connection, counters: Table, table: Table, field: str) -> int:
    """The next number of `table.field`, taken in the connection's transaction."""
    past_stored = select(func.coalesce(func.max(table.c[field]), 0) + 1).scalar_subquery()
    insert = _INSERTS[connection.dialect.name](counters)
    statement = (
        insert.values(name=f"{table.name}.{field}", last=past_stored)
        .on_conflict_do_update(
            index_elements=[counters.c.name],
            set_={
                "last": case(
                    (counters.c.last + 1 >= insert.excluded.last, counters.c.last + 1),
                    else_=insert.excluded.last,
                )
            },
        )
        .returning(counters.c.last)
    )
    return connection.execute(statement).scalar_one()
