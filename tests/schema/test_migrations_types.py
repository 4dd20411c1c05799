"""Every field type and option round-trips: once migrated, the database matches the declaration."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest
from migration_helpers import shop
from sqlalchemy.exc import IntegrityError

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


def test_on_delete_change_is_applied(migrator):
    migrator.migrate(shop())
    migrator.insert("categories", id="c1", name="books")
    migrator.insert("products", id="p1", name="Atlas", category="c1")
    declaration = shop()
    declaration["collections"]["products"]["fields"]["category"]["on_delete"] = "set null"
    plan = migrator.migrate(declaration)
    assert {"drop_foreign_key", "add_foreign_key"} <= {c.op for c in plan.changes}
    assert migrator.plan(declaration) is None
    with migrator.engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM categories")
    assert migrator.select("products", "id", "category") == [("p1", None)]


def test_any_type_to_text_is_widening(migrator):
    migrator.migrate(shop())
    migrator.insert("products", id="p1", name="Atlas", price=Decimal("9.50"))
    declaration = shop()
    declaration["collections"]["products"]["fields"]["price"] = {"type": "text"}
    plan = migrator.migrate(declaration)
    assert not plan.destructive
    ((price,),) = migrator.select("products", "price")
    assert price in ("9.50", "9.5")
    assert migrator.plan(declaration) is None


def test_rename_a_collection_with_a_relation_to_itself(migrator):
    declaration = {
        "name": "tree",
        "collections": {
            "nodes": {
                "fields": {
                    "label": {"type": "text"},
                    "parent": {"type": "relation", "to": "nodes", "on_delete": "cascade"},
                }
            }
        },
    }
    migrator.migrate(declaration)
    migrator.insert("nodes", id="root", label="root")
    migrator.insert("nodes", id="leaf", label="leaf", parent="root")
    renamed = copy.deepcopy(declaration)
    renamed["collections"] = {"items": {**declaration["collections"]["nodes"]}}
    renamed["collections"]["items"]["renamed_from"] = "nodes"
    renamed["collections"]["items"]["fields"] = {
        "label": {"type": "text"},
        "parent": {"type": "relation", "to": "items", "on_delete": "cascade"},
    }
    migrator.migrate(renamed)
    assert migrator.select("items", "id", "parent") == [("leaf", "root"), ("root", None)]
    assert migrator.plan(renamed) is None
    with pytest.raises(IntegrityError):
        migrator.insert("items", id="x", parent="nowhere")


def test_an_auth_collection_and_its_tables_round_trip(migrator):
    declaration = {
        "name": "accounts",
        "collections": {
            "users": {"auth": True, "fields": {"name": {"type": "text"}}},
            "notes": {"fields": {"owner": {"type": "relation", "to": "users"}}},
        },
    }
    plan = migrator.migrate(declaration)
    created = {c.table for c in plan.changes if c.op == "create_table"}
    assert {"users", "notes"} <= created
    assert any(table.startswith("_bf_auth_") for table in created)
    assert migrator.plan(declaration) is None
