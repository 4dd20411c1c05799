"""Planning: the first plan creates everything, the plan file is reviewable, no change → None."""

from __future__ import annotations

import pytest
from migration_helpers import shop
from ruamel.yaml import YAML

from backforge.schema.migrations import (
    HISTORY_TABLE,
    PendingMigrationsError,
    apply_migrations,
    migration_status,
)
from backforge.spec import load_dict


def test_first_plan_creates_every_collection(migrator):
    plan = migrator.plan(shop())
    assert plan.name == "0001_create_categories_products"
    assert plan.path.name == "0001_create_categories_products.yaml"
    assert [c.op for c in plan.changes] == ["create_table", "create_table"]
    assert [c.table for c in plan.changes] == ["categories", "products"]  # referenced first
    assert apply_migrations(migrator.engine, migrator.directory) == [plan.name]
    assert {"categories", "products", HISTORY_TABLE} <= migrator.tables()
    assert migrator.columns("products")[:4] == ["id", "created", "updated", "version"]


def test_plan_on_an_up_to_date_database_returns_none(migrator):
    migrator.migrate(shop())
    assert migrator.plan(shop()) is None
    assert sorted(p.name for p in migrator.directory.iterdir()) == [
        "0001_create_categories_products.yaml"
    ]


def test_plan_file_lists_operations_with_sql_for_both_databases(migrator):
    plan = migrator.plan(shop())
    text = plan.path.read_text()
    assert text.startswith("# backforge migration plan")
    document = YAML(typ="safe").load(text)
    assert document["name"] == plan.name
    assert document["planned_against"] == migrator.engine.dialect.name
    assert document["destructive"] is False
    operation = document["operations"][1]
    assert operation["op"] == "create_table"
    assert operation["description"].startswith("create collection products")
    assert operation["destructive"] is False
    for dialect in ("sqlite", "postgresql"):
        statements = operation["sql"][dialect]
        assert statements[0].startswith("CREATE TABLE products (")
        assert "CONSTRAINT ck_products_status_values CHECK" in statements[0]
        assert "CREATE INDEX ix_products_category ON products (category)" in statements


def test_named_plan_and_numbering(migrator):
    migrator.migrate(shop())
    declaration = shop()
    declaration["collections"]["products"]["fields"]["sku"] = {"type": "text"}
    plan = migrator.plan(declaration, name="Add SKU!")
    assert plan.name == "0002_add_sku"


def test_planning_again_before_applying_is_refused(migrator):
    migrator.plan(shop())
    with pytest.raises(PendingMigrationsError, match="0001_create_categories_products"):
        migrator.plan(shop())


def test_status_reports_applied_pending_and_drift(migrator):
    spec = load_dict(shop())
    status = migration_status(migrator.engine, spec, migrator.directory)
    assert status.applied == [] and status.pending == []
    assert {c.table for c in status.drift} == {"categories", "products"}
    plan = migrator.plan(shop())
    status = migration_status(migrator.engine, spec, migrator.directory)
    assert status.pending == [plan.name] and not status.drift_checked
    apply_migrations(migrator.engine, migrator.directory)
    status = migration_status(migrator.engine, spec, migrator.directory)
    assert [m.name for m in status.applied] == [plan.name]
    assert status.pending == [] and status.drift == [] and status.up_to_date


def test_a_plan_is_named_after_the_users_collections_not_backforges_tables(migrator):
    accounts = load_dict(
        {
            "name": "accounts",
            "collections": {
                "members": {"auth": True, "fields": {}},
                "notes": {"fields": {"text": {"type": "text"}}},
            },
        }
    )
    plan = migrator.plan(accounts)
    assert plan.name == "0001_create_members_notes"
    assert any(c.table.startswith("_bf_auth") for c in plan.changes)  # still created
