"""The store's events (`RecordStore.events`): who hears of a write, and when — inside its
transaction, after its commit (never after a rollback), the collections it changed, and a
password set by an update, a stored relation's member added — and what an API key's scopes let
it read of those members, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from backforge.database import create_database_engine
from backforge.spec.loader import load_text
from backforge.store.caller import ADMIN, Caller
from backforge.store.errors import Forbidden, ValidationFailed
from backforge.store.events import WriteEvent, current_transaction
from backforge.store.records import RecordStore

DECLARATION = """
name: evented
collections:
  users:
    auth: true
    fields:
      name: {type: text}
  notes:
    fields:
      text: {type: text, required: true}
"""


@pytest.fixture
def store(db_url: str) -> Iterator[RecordStore]:
    engine = create_database_engine(db_url)
    store = RecordStore(load_text(DECLARATION), engine)
    store.metadata.create_all(engine)
    yield store
    engine.dispose()


def _heard(store: RecordStore) -> list[tuple]:
    """Subscribe to every moment; each call is noted with whether a transaction was open."""
    heard: list[tuple] = []

    def written(event: WriteEvent) -> None:
        heard.append(("written", event.operation, event.collection, _inside()))

    def committed(event: WriteEvent) -> None:
        heard.append(("committed", event.operation, event.collection, _inside()))

    store.events.on_written(written)
    store.events.on_committed(committed)
    store.events.on_changed(lambda collection: heard.append(("changed", collection, _inside())))
    return heard


def _inside() -> bool:
    return current_transaction.get() is not None


def test_a_write_is_heard_inside_its_transaction_then_after_its_commit(store):
    heard = _heard(store)
    note = store.create("notes", ADMIN, {"text": "one"})
    store.update("notes", ADMIN, note["id"], {"text": "two"})
    store.delete("notes", ADMIN, note["id"])
    assert heard == [
        ("written", "create", "notes", True),
        ("changed", "notes", False),
        ("committed", "create", "notes", False),
        ("written", "update", "notes", True),
        ("changed", "notes", False),
        ("committed", "update", "notes", False),
        ("written", "delete", "notes", True),
        ("changed", "notes", False),
        ("committed", "delete", "notes", False),
    ]


def test_a_written_event_carries_the_record_as_written(store):
    records: list[dict | None] = []
    store.events.on_written(lambda event: records.append(event.record))
    note = store.create("notes", ADMIN, {"text": "kept"})
    assert records == [note]


def test_listeners_run_in_the_order_they_subscribed(store):
    order: list[str] = []
    store.events.on_changed(lambda _collection: order.append("first"))
    store.events.on_changed(lambda _collection: order.append("second"))
    store.create("notes", ADMIN, {"text": "one"})
    assert order == ["first", "second"]


def test_a_rolled_back_write_is_never_heard_after_commit(store):
    heard = _heard(store)
    with pytest.raises(RuntimeError), store.transaction():
        store.create("notes", ADMIN, {"text": "undone"})
        raise RuntimeError("roll back")
    assert heard == [("written", "create", "notes", True)]


def test_a_failing_written_listener_rolls_the_write_back(store):
    def refuse(_event: WriteEvent) -> None:
        raise RuntimeError("the outbox is full")

    store.events.on_written(refuse)
    with pytest.raises(RuntimeError):
        store.create("notes", ADMIN, {"text": "refused"})
    with store.reading() as connection:
        assert connection.execute(select(store.tables["notes"].c.id)).first() is None


def test_a_password_set_by_an_update_is_heard_in_its_transaction(store):
    user = store.create("users", ADMIN, {"email": "a@example.com", "password": "long enough pw"})
    heard: list[tuple] = []

    def password_set(connection, collection: str, record_id: str) -> None:
        transaction = current_transaction.get()
        assert transaction is not None and transaction.connection is connection
        heard.append((collection, record_id))

    store.events.on_password_set(password_set)
    store.update("users", ADMIN, user["id"], {"name": "renamed"})
    assert heard == []
    store.update("users", ADMIN, user["id"], {"password": "another long pw"})
    assert heard == [("users", user["id"])]


LINKED = """
name: linked
collections:
  tags:
    fields:
      name: {type: text}
    rules: {view: public}
  notes:
    fields:
      text: {type: text}
      likes: {type: int, max: 10}
    relations:
      tags: {to: tags}
    rules: {view: public, update: public}
"""


def test_a_member_added_or_removed_is_an_update_heard_and_under_the_keys_scopes(db_url):
    engine = create_database_engine(db_url)
    store = RecordStore(load_text(LINKED), engine)
    store.metadata.create_all(engine)
    try:
        tag = store.create("tags", ADMIN, {"name": "red"})
        note = store.create("notes", ADMIN, {"text": "n"})
        heard = _heard(store)
        store.link("notes", ADMIN, note["id"], "tags", tag["id"], True)
        assert ("written", "update", "notes", True) in heard
        assert ("committed", "update", "notes", False) in heard
        viewer = Caller(id="k" * 15, collection="users", scopes=frozenset({"notes:view"}))
        with pytest.raises(Forbidden):
            store.link("notes", viewer, note["id"], "tags", tag["id"], False)
        assert store.get("notes", ADMIN, note["id"])["tags"] == [tag["id"]]
        # An empty number counts from 0; its bounds hold.
        assert store.increment("notes", ADMIN, note["id"], "likes", 3)["likes"] == 3
        with pytest.raises(ValidationFailed):
            store.increment("notes", ADMIN, note["id"], "likes", 8)
    finally:
        engine.dispose()


def test_an_api_keys_scopes_hide_the_members_of_a_collection_they_do_not_reach(db_url):
    engine = create_database_engine(db_url)
    store = RecordStore(load_text(LINKED), engine)
    store.metadata.create_all(engine)
    try:
        tag = store.create("tags", ADMIN, {"name": "red"})
        note = store.create("notes", ADMIN, {"text": "n", "tags": [tag["id"]]})
        notes_only = Caller(id="k" * 15, collection="users", scopes=frozenset({"notes:view"}))
        both = Caller(id="k" * 15, collection="users", scopes=frozenset({"notes:*", "tags:*"}))
        assert store.get("notes", notes_only, note["id"])["tags"] == []
        assert store.get("notes", both, note["id"])["tags"] == [tag["id"]]
    finally:
        engine.dispose()
