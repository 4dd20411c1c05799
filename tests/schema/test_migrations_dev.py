"""What serve asks: is the database behind the declaration; and the development auto-apply."""

from __future__ import annotations

import pytest
from migration_helpers import shop

from backforge.schema.migrations import (
    HISTORY_TABLE,
    DestructiveChangeError,
    auto_apply,
    migration_status,
    pending_changes,
)
from backforge.spec import load_dict


def test_pending_changes_on_an_empty_database(db_engine):
    changes = pending_changes(db_engine, load_dict(shop()))
    assert [(c.op, c.table) for c in changes] == [
        ("create_table", "categories"),
        ("create_table", "products"),
    ]


def test_pending_changes_is_empty_once_migrated(migrator):
    migrator.migrate(shop())
    assert pending_changes(migrator.engine, load_dict(shop())) == []
    declaration = shop()
    declaration["collections"]["products"]["fields"]["sku"] = {"type": "text"}
    assert [c.op for c in pending_changes(migrator.engine, load_dict(declaration))] == [
        "add_column"
    ]


def test_auto_apply_creates_and_adds_and_records(migrator):
    applied = auto_apply(migrator.engine, load_dict(shop()))
    assert {c.op for c in applied} == {"create_table"}
    declaration = shop()
    declaration["collections"]["products"]["fields"]["sku"] = {"type": "text"}
    assert [c.op for c in auto_apply(migrator.engine, load_dict(declaration))] == ["add_column"]
    assert auto_apply(migrator.engine, load_dict(declaration)) == []
    names = [name for (name,) in migrator.rows(f"SELECT name FROM {HISTORY_TABLE}")]
    assert len(names) == 2 and all(name.startswith("auto_") for name in names)
    status = migration_status(migrator.engine, load_dict(declaration), migrator.directory)
    assert status.up_to_date
    assert [m.file_present for m in status.applied] == [None, None]


def test_auto_apply_refuses_destructive_changes(migrator):
    auto_apply(migrator.engine, load_dict(shop()))
    declaration = shop()
    del declaration["collections"]["products"]["fields"]["price"]
    with pytest.raises(DestructiveChangeError, match="migrate plan"):
        auto_apply(migrator.engine, load_dict(declaration))
    assert "price" in migrator.columns("products")


def test_workers_auto_applying_at_once_apply_once(migrator):
    """Several `serve --dev` workers start together: one applies, the others find nothing."""
    from concurrent.futures import ThreadPoolExecutor

    spec = load_dict(shop())
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: auto_apply(migrator.engine, spec), range(4)))
    assert sorted(len(r) for r in results) == [0, 0, 0, 2]
    assert len(migrator.rows(f"SELECT name FROM {HISTORY_TABLE}")) == 1
    assert pending_changes(migrator.engine, spec) == []
