"""How a read by id reaches PostgreSQL from an asyncio server: the measurement behind
backforge's execution model there (bench/README.md, "PostgreSQL from the event loop").

32 tasks on one event loop (uvloop) read random rows of a 10,000-row table by primary key for
a few seconds each way; the client's CPU per read is what it costs a server process:

- thread:         SQLAlchemy (psycopg, pool_pre_ping) in a worker thread per call, as before
- thread-raw:     psycopg directly in a worker thread per call
- greenlet-sa:    SQLAlchemy's asyncpg dialect driven from a greenlet on the loop (writes now)
- psycopg-async:  psycopg's AsyncConnection, prepared, a queue of connections
- asyncpg:        asyncpg directly, prepared, a queue of connections (reads now)

Then writes, asyncpg on the same loop, one INSERT each: in a transaction of its own (BEGIN,
INSERT, COMMIT: what a create does now), or grouped as SQLite's group commit does, ten to a
transaction, each in a SAVEPOINT of its own (so that one failing is undone alone).

    taskset -c 0 .venv/bin/python bench/pg_drivers.py [postgresql://user@127.0.0.1/db]

It makes (and drops) a table `pg_drivers_posts` in that database (default: test on the
machine's PostgreSQL as root or postgres).
"""

from __future__ import annotations

import asyncio
import random
import resource
import sys
import time

import uvloop

ROWS = 10_000
TASKS = 32
POOL = 10
SECONDS = 3.0
TABLE = "pg_drivers_posts"
COLUMNS = "id, title, body, author, status, views, created"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def drive(one, ids: list[str]) -> tuple[float, float]:
    """Reads per second and client CPU microseconds per read."""
    done = 0
    stop = time.monotonic() + SECONDS

    async def worker() -> None:
        nonlocal done
        while time.monotonic() < stop:
            await one(random.choice(ids))
            done += 1

    before, started = cpu_seconds(), time.monotonic()
    await asyncio.gather(*(worker() for _ in range(TASKS)))
    return done / (time.monotonic() - started), (cpu_seconds() - before) / done * 1e6


async def queue_of(connections: list) -> asyncio.Queue:
    found: asyncio.Queue = asyncio.Queue()
    for connection in connections:
        found.put_nowait(connection)
    return found


async def case_thread(url: str):
    import anyio.to_thread
    import sqlalchemy as sa

    engine = sa.create_engine(
        url.replace("postgresql://", "postgresql+psycopg://"),
        pool_size=POOL,
        max_overflow=POOL,
        pool_pre_ping=True,
    )
    statement = sa.text(f"SELECT {COLUMNS} FROM {TABLE} WHERE id = :id")

    def call(record_id: str) -> list:
        with engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(statement, {"id": record_id})]

    return lambda record_id: anyio.to_thread.run_sync(call, record_id)


async def case_thread_raw(url: str):
    import queue

    import anyio.to_thread
    import psycopg

    idle: queue.Queue = queue.Queue()
    for _ in range(POOL):
        idle.put(psycopg.connect(url, autocommit=True, prepare_threshold=0))
    sql = f"SELECT {COLUMNS} FROM {TABLE} WHERE id = %s"

    def call(record_id: str) -> list:
        connection = idle.get()
        try:
            return connection.execute(sql, (record_id,)).fetchall()
        finally:
            idle.put(connection)

    return lambda record_id: anyio.to_thread.run_sync(call, record_id)


async def case_greenlet_sa(url: str):
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.util import greenlet_spawn

    engine = create_async_engine(
        url.replace("postgresql://", "postgresql+asyncpg://"), pool_size=POOL, max_overflow=0
    ).sync_engine
    statement = sa.text(f"SELECT {COLUMNS} FROM {TABLE} WHERE id = :id")

    def call(record_id: str) -> list:
        with engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(statement, {"id": record_id})]

    return lambda record_id: greenlet_spawn(call, record_id)


async def case_psycopg_async(url: str):
    import psycopg

    connections = [
        await psycopg.AsyncConnection.connect(url, autocommit=True, prepare_threshold=0)
        for _ in range(POOL)
    ]
    idle = await queue_of(connections)
    sql = f"SELECT {COLUMNS} FROM {TABLE} WHERE id = %s"

    async def one(record_id: str) -> list:
        connection = await idle.get()
        try:
            cursor = await connection.execute(sql, (record_id,))
            return await cursor.fetchall()
        finally:
            idle.put_nowait(connection)

    return one


async def case_asyncpg(url: str):
    import asyncpg

    idle = await queue_of([await asyncpg.connect(url) for _ in range(POOL)])
    sql = f"SELECT {COLUMNS} FROM {TABLE} WHERE id = $1"

    async def one(record_id: str) -> list:
        connection = await idle.get()
        try:
            return [dict(row) for row in await connection.fetch(sql, record_id)]
        finally:
            idle.put_nowait(connection)

    return one


CASES = {
    "thread": case_thread,
    "thread-raw": case_thread_raw,
    "greenlet-sa": case_greenlet_sa,
    "psycopg-async": case_psycopg_async,
    "asyncpg": case_asyncpg,
}


def database_url() -> str:
    import psycopg

    if len(sys.argv) > 1:
        return sys.argv[1]
    for user in ("root", "postgres"):
        url = f"postgresql://{user}@127.0.0.1:5432/test"
        try:
            psycopg.connect(url, connect_timeout=3).close()
            return url
        except psycopg.OperationalError:
            continue
    raise SystemExit("no PostgreSQL at 127.0.0.1:5432 (pass a URL)")


def make_table(url: str) -> list[str]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"DROP TABLE IF EXISTS {TABLE}")
        connection.execute(
            f"CREATE TABLE {TABLE} (id text PRIMARY KEY, title text, body text, author text, "
            "status text, views int, created timestamptz)"
        )
        connection.execute(
            f"INSERT INTO {TABLE} SELECT substr(md5(i::text), 1, 15), 'title ' || i, "
            "repeat('b', 150), 'author', 'published', i % 1000, now() - i * interval '1 s' "
            f"FROM generate_series(1, {ROWS}) i"
        )
        return [row[0] for row in connection.execute(f"SELECT id FROM {TABLE}")]


async def measure(url: str, ids: list[str]) -> None:
    for name, case in CASES.items():
        one = await case(url)
        await drive(one, ids)  # warm: connections made, statements prepared
        rate, cpu = await drive(one, ids)
        print(f"{name:14} {rate:9,.0f} reads/s  {cpu:6.0f} µs of client CPU per read", flush=True)
    for name, case in WRITE_CASES.items():
        one = await case(url)
        await drive(one, ids)
        rate, cpu = await drive(one, ids)
        print(f"{name:14} {rate:9,.0f} writes/s {cpu:6.0f} µs of client CPU per write", flush=True)


INSERT = (
    f"INSERT INTO {TABLE} (id, title, body, author, status, views, created) "
    "VALUES ($1, 't', 'b', 'a', 'draft', 1, now())"
)
_written = iter(range(10**9))


async def case_own_transaction(url: str):
    import asyncpg

    idle = await queue_of([await asyncpg.connect(url) for _ in range(POOL)])

    async def one(_record_id: str) -> None:
        connection = await idle.get()
        try:
            async with connection.transaction():
                await connection.execute(INSERT, f"w{next(_written)}")
        finally:
            idle.put_nowait(connection)

    return one


async def case_grouped(url: str):
    """Writes arriving together share a transaction of up to ten, a SAVEPOINT each; each
    returns once the group's COMMIT is done."""
    import asyncpg

    idle = await queue_of([await asyncpg.connect(url) for _ in range(POOL)])
    pending: list[tuple[str, asyncio.Future]] = []
    flushing: set[asyncio.Task] = set()

    async def flush(batch: list[tuple[str, asyncio.Future]]) -> None:
        connection = await idle.get()
        try:
            async with connection.transaction():
                for number, (record_id, _done) in enumerate(batch):
                    await connection.execute(f"SAVEPOINT s{number}")
                    await connection.execute(INSERT, record_id)
                    await connection.execute(f"RELEASE SAVEPOINT s{number}")
        finally:
            idle.put_nowait(connection)
        for _record_id, done in batch:
            done.set_result(None)

    def start() -> None:
        while pending:
            batch = pending[:10]
            del pending[:10]
            task = asyncio.ensure_future(flush(batch))
            flushing.add(task)
            task.add_done_callback(flushing.discard)

    async def one(_record_id: str) -> None:
        done = asyncio.get_running_loop().create_future()
        if not pending:
            asyncio.get_running_loop().call_soon(start)
        pending.append((f"g{next(_written)}", done))
        await done

    return one


WRITE_CASES = {"own-transaction": case_own_transaction, "grouped-10": case_grouped}


def main() -> None:
    url = database_url()
    ids = make_table(url)
    try:
        uvloop.run(measure(url, ids))
    finally:
        import psycopg

        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(f"DROP TABLE IF EXISTS {TABLE}")


if __name__ == "__main__":
    main()
