"""Every field type and option round-trips: once migrated, the database matches the declaration."""

from __future__ import annotations

import copy

import pytest
from migration_helpers import shop

from backforge.schema.migrations import DestructiveChangeError

EVERYTHING = {
    "name": "everything",
    "collections": {
        "owners": {"fields": {"email": {"type": "email", "required": True, "unique": True}}},
        "things": {
            "fields": {
                "text": {"type": "text", "max_length": 10, "index": True},
                "email": {"type": "email"},
                "url": {"type": "url", "unique": True},
                "int": {"type": "int", "min": 0, "default": 3},
                "float": {"type": "float"},
                "decimal": {"type": "decimal", "max_digits": 10, "decimal_places": 4},
                "bool": {"type": "bool", "default": False, "required": True},
                "date": {"type": "date"},
                "datetime": {"type": "datetime"},
                "json": {"type": "json"},
                "select": {"type": "select", "values": ["it's", "50%", ":colon"]},
                "owner": {"type": "relation", "to": "owners", "on_delete": "set null"},
                "parent": {"type": "relation", "to": "things"},
            },
            "indexes": [["int", "float"], ["owner", "date"]],
        },
    },
}


def test_every_type_round_trips(migrator):
    migrator.migrate(EVERYTHING)
    assert migrator.plan(EVERYTHING) is None


def test_every_type_added_to_a_table_with_rows(migrator):
    things = EVERYTHING["collections"]["things"]
    full = copy.deepcopy(EVERYTHING)
    full["collections"]["things"]["fields"] = {"label": {"type": "text"}, **things["fields"]}
    base = copy.deepcopy(full)
    base["collections"]["things"] = {"fields": {"label": {"type": "text"}}}
    migrator.migrate(base)
    migrator.insert("things", id="t1", label="one")
    migrator.migrate(full)
    assert migrator.select("things", "id", "int", "bool", "select") == [("t1", 3, False, None)]
    assert migrator.plan(full) is None
    # values with quotes, percent signs and colons are accepted by the new CHECK
    migrator.insert("things", id="t2", bool=True, select="it's", parent="t1")
    migrator.insert("things", id="t3", bool=True, select="50%")
    migrator.insert("things", id="t4", bool=True, select=":colon")


def test_select_values_with_quotes_change(migrator):
    migrator.migrate(EVERYTHING)
    declaration = copy.deepcopy(EVERYTHING)
    declaration["collections"]["things"]["fields"]["select"]["values"].append("new'one")
    plan = migrator.migrate(declaration)
    assert not plan.destructive
    migrator.insert("things", id="t1", bool=True, select="new'one")
    assert migrator.plan(declaration) is None


def test_text_becoming_select_is_narrowing_and_select_becoming_text_is_not(migrator):
    migrator.migrate(shop())
    migrator.insert("products", id="p1", name="Atlas", status="live")
    declaration = shop()
    declaration["collections"]["products"]["fields"]["status"] = {"type": "text"}
    plan = migrator.migrate(declaration)
    assert not plan.destructive
    migrator.insert("products", id="p2", name="Bible", status="anything")
    declaration["collections"]["products"]["fields"]["status"] = {
        "type": "select",
        "values": ["live", "draft"],
    }
    with pytest.raises(DestructiveChangeError, match="allow only"):
        migrator.plan(declaration)
    migrator.migrate(declaration, allow_destructive=True)
    assert migrator.select("products", "id", "status") == [("p1", "live"), ("p2", None)]


def test_relation_changes(migrator):
    migrator.migrate(shop())
    migrator.insert("categories", id="c1", name="books")
    migrator.insert("products", id="p1", name="Atlas", category="c1")
    declaration = shop()
    collections = declaration["collections"]
    collections["brands"] = {"fields": {"name": {"type": "text"}}}
    collections["products"]["fields"]["brand"] = {"type": "relation", "to": "brands"}
    collections["products"]["fields"]["category"]["on_delete"] = "restrict"
    plan = migrator.migrate(declaration)
    ops = [c.op for c in plan.changes]
    assert "create_table" in ops and "add_column" in ops and "add_foreign_key" in ops
    assert migrator.plan(declaration) is None
    migrator.insert("brands", id="b1", name="acme")
    migrator.insert("products", id="p2", name="Bible", brand="b1")
    # the relation now points elsewhere: its values stay, the link changes
    collections["products"]["fields"]["brand"]["to"] = "categories"
    with pytest.raises(Exception, match=r"point at rows that do not exist|violates"):
        migrator.migrate(declaration)
