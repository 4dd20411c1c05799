"""Group commit on SQLite: the record writes of one event-loop turn share one COMMIT, each in its
own savepoint, and none answers before that COMMIT."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from sqlalchemy import event

from backforge.database import create_database_engine
from backforge.spec.loader import load_text
from backforge.store.caller import ADMIN
from backforge.store.errors import Conflict, HookFailed, Unavailable
from backforge.store.events import current_transaction
from backforge.store.hooks import Hooks
from backforge.store.records import RecordStore

DECLARATION = """
name: grouped
collections:
  tags:
    fields:
      name: {type: text, required: true, unique: true}
    rules: {list: public, view: public, create: public}
  logs:
    fields:
      line: {type: text, required: true}
"""


@pytest.fixture
def make_store(sqlite_url):
    engines = []

    def make(hooks: Hooks | None = None) -> tuple[RecordStore, list[int]]:
        engine = create_database_engine(sqlite_url)
        engines.append(engine)
        store = RecordStore(load_text(DECLARATION), engine, hooks)
        store.metadata.create_all(engine)
        commits: list[int] = []
        event.listen(engine, "commit", lambda _connection: commits.append(1))
        return store, commits

    yield make
    for engine in engines:
        engine.dispose()


def _names_on_disk(store: RecordStore, table: str = "tags", column: str = "name") -> set[str]:
    """What another connection sees: only what was committed."""
    path = store.engine.url.database
    with sqlite3.connect(path) as connection:
        return {value for (value,) in connection.execute(f"SELECT {column} FROM {table}")}


async def _create_all(store: RecordStore, names: list[str]) -> list:
    """Create one tag per name from concurrent tasks, as concurrent requests would; each task
    notes what is on disk when its write returns."""
    assert store.group is not None
    group = store.group

    async def create(name: str) -> dict:
        record = await group.run(store.create, "tags", ADMIN, {"name": name})
        record["on_disk_when_answered"] = _names_on_disk(store)
        return record

    return await asyncio.gather(*(create(name) for name in names), return_exceptions=True)


def test_the_writes_of_one_turn_share_one_commit(make_store):
    store, commits = make_store()
    results = asyncio.run(_create_all(store, ["a", "b", "c", "d", "e"]))
    assert [record["name"] for record in results] == ["a", "b", "c", "d", "e"]
    # None is answered before the COMMIT that holds every write of the group.
    assert all(r["on_disk_when_answered"] == {"a", "b", "c", "d", "e"} for r in results)
    assert len(commits) == 1
    assert _names_on_disk(store) == {"a", "b", "c", "d", "e"}


def test_a_write_that_fails_is_undone_alone(make_store):
    store, commits = make_store()
    results = asyncio.run(_create_all(store, ["a", "b", "a", "c"]))
    assert isinstance(results[2], Conflict) and results[2].field == "name"
    assert [r["name"] for r in (results[0], results[1], results[3])] == ["a", "b", "c"]
    assert len(commits) == 1
    assert _names_on_disk(store) == {"a", "b", "c"}


def test_a_refusal_judged_on_the_group_is_answered_after_its_commit(make_store):
    store, _ = make_store()
    assert store.group is not None
    group = store.group

    async def create(name: str):
        try:
            return await group.run(store.create, "tags", ADMIN, {"name": name})
        except Conflict:
            # The conflicting row is another member's: it must be on disk by now.
            return ("refused", _names_on_disk(store))

    async def scenario():
        return await asyncio.gather(create("x"), create("x"))

    first, second = asyncio.run(scenario())
    assert first["name"] == "x"
    assert second == ("refused", {"x"})


def test_a_failing_after_hook_undoes_its_own_insert_only(make_store):
    hooks = Hooks()

    @hooks.after_create("tags")
    def refuse(ctx):
        if ctx.record["name"] == "bad":
            raise RuntimeError("refused after the insert")

    store, _ = make_store(hooks)
    results = asyncio.run(_create_all(store, ["a", "bad", "b"]))
    assert isinstance(results[1], HookFailed)
    assert _names_on_disk(store) == {"a", "b"}


def test_after_commit_work_runs_once_committed(make_store):
    hooks = Hooks()
    seen_on_disk: list[set[str]] = []
    store, _ = make_store(hooks)

    @hooks.after_commit("create", "tags")
    def look(ctx):
        seen_on_disk.append(_names_on_disk(store))

    asyncio.run(_create_all(store, ["a", "b"]))
    assert seen_on_disk == [{"a", "b"}, {"a", "b"}]


def test_an_after_commit_hook_that_writes_commits_before_the_answer(make_store):
    hooks = Hooks()
    store, _ = make_store(hooks)
    read_back: list[str] = []

    @hooks.after_commit("create", "tags")
    def log(ctx):
        entry = ctx.system.create("logs", {"line": f"created {ctx.record['name']}"})
        read_back.append(ctx.system.get("logs", entry["id"])["line"])

    async def scenario():
        await _create_all(store, ["a"])
        return _names_on_disk(store, "logs", "line")

    assert asyncio.run(scenario()) == {"created a"}
    assert read_back == ["created a"]


def test_a_write_outside_the_group_commits_the_group_first(make_store):
    store, commits = make_store()
    with store.engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE raw_writes (value TEXT)")
    commits.clear()

    async def scenario():
        assert store.group is not None
        grouped = asyncio.ensure_future(store.group.run(store.create, "tags", ADMIN, {"name": "a"}))
        await asyncio.sleep(0)  # the grouped write runs and holds the write lock
        assert _names_on_disk(store) == set()
        # Without committing the group first this would wait on its own thread's lock.
        store.create("tags", ADMIN, {"name": "b"})
        assert _names_on_disk(store) == {"a", "b"}
        grouped_again = asyncio.ensure_future(
            store.group.run(store.create, "tags", ADMIN, {"name": "c"})
        )
        await asyncio.sleep(0)
        # The same for a transaction begun outside the store (the jobs outbox does this).
        with store.engine.begin() as connection:
            connection.exec_driver_sql("INSERT INTO raw_writes VALUES ('raw')")
        assert _names_on_disk(store) == {"a", "b", "c"}
        assert _names_on_disk(store, "raw_writes", "value") == {"raw"}
        return await grouped, await grouped_again

    records = asyncio.run(scenario())
    assert [record["name"] for record in records] == ["a", "c"]
    assert len(commits) == 4


def _poisoned_store(make_store) -> RecordStore:
    """A store whose tag 'poison' makes its transaction's COMMIT fail (a deferred foreign key
    is checked at COMMIT)."""
    hooks = Hooks()

    @hooks.before_create("tags")
    def poison(ctx):
        if ctx.values["name"] == "poison":
            transaction = current_transaction.get()
            transaction.connection.exec_driver_sql("INSERT INTO children VALUES (1, 999)")

    store, _ = make_store(hooks)
    with store.engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE parents (id INTEGER PRIMARY KEY)")
        connection.exec_driver_sql(
            "CREATE TABLE children (id INTEGER PRIMARY KEY, parent INTEGER"
            " REFERENCES parents(id) DEFERRABLE INITIALLY DEFERRED)"
        )
    return store


def test_a_failed_commit_outside_a_group_leaves_the_connections_usable(make_store):
    store = _poisoned_store(make_store)
    with pytest.raises(Conflict):
        store.create("tags", ADMIN, {"name": "poison"})
    # The pooled connection whose COMMIT failed must not keep that transaction open (the same
    # for a group: see the next test).
    for name in ("a", "b", "c"):
        assert store.create("tags", ADMIN, {"name": name})["name"] == name
    assert _names_on_disk(store) == {"a", "b", "c"}


def test_a_failed_commit_fails_every_member_and_writes_nothing(make_store):
    store = _poisoned_store(make_store)
    results = asyncio.run(_create_all(store, ["a", "poison", "b", "a"]))
    # Nothing was written, whichever write caused it: each is told to try again, even the one
    # refused for a conflict with a row that is now not written either.
    assert all(isinstance(result, Unavailable) for result in results), results
    assert isinstance(results[3].__cause__, Conflict)
    assert len({id(result) for result in results}) == 4
    assert _names_on_disk(store) == set()
    # The next group starts clean.
    results = asyncio.run(_create_all(store, ["c"]))
    assert not isinstance(results[0], Exception), repr(results[0])
    assert results[0]["name"] == "c"
    assert _names_on_disk(store) == {"c"}


def test_a_group_whose_transaction_was_lost_answers_503_and_the_next_one_works(make_store):
    hooks = Hooks()

    @hooks.before_create("tags")
    def end_the_transaction(ctx):
        # What SQLite itself does on a full disk or an I/O error: the transaction is gone.
        if ctx.values["name"] == "lost":
            driver = current_transaction.get().connection.connection.driver_connection
            driver.execute("ROLLBACK")
            raise RuntimeError("the transaction is gone")

    store, _ = make_store(hooks)
    results = asyncio.run(_create_all(store, ["a", "lost", "b"]))
    # The member before it and the member that lost it are told nothing was written; "b" came
    # after the group was given up and wrote in a new one.
    assert isinstance(results[0], Unavailable) and isinstance(results[1], Unavailable)
    assert results[2]["name"] == "b"
    assert _names_on_disk(store) == {"b"}
    assert [r["name"] for r in asyncio.run(_create_all(store, ["c"]))] == ["c"]
