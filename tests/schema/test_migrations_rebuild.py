"""Changing a table other rows refer to: no row lost, no cascade (a SQLite rebuild; ALTER on PG)."""

from __future__ import annotations

import pytest
from migration_helpers import Migrator, shop
from sqlalchemy.exc import IntegrityError

from backforge.database import create_database_engine
from backforge.schema.migrations import HISTORY_TABLE, ForeignKeyCheckError, apply_migrations


@pytest.fixture
def related(migrator):
    """Categories referred to by products ON DELETE CASCADE: a careless rebuild empties both."""
    migrator.migrate(shop())
    for c in range(3):
        migrator.insert("categories", id=f"c{c}", name=f"category {c}")
    for p in range(30):
        migrator.insert("products", id=f"p{p}", name=f"product {p}", category=f"c{p % 3}")
    return migrator


def _rename_category_name(declaration):
    fields = declaration["collections"]["categories"]["fields"]
    fields["label"] = {**fields.pop("name"), "renamed_from": "name"}
    return declaration


def test_changing_a_referenced_table_loses_no_row(related):
    declaration = _rename_category_name(shop())
    declaration["collections"]["categories"]["fields"]["rank"] = {
        "type": "int",
        "required": True,
        "default": 0,
    }
    plan = related.migrate(declaration)
    if related.engine.dialect.name == "sqlite":
        assert [c.table for c in plan.changes if c.op == "rebuild_table"] == ["categories"]
    assert related.rows("SELECT COUNT(*) FROM categories") == [(3,)]
    assert related.rows("SELECT COUNT(*) FROM products") == [(30,)]
    assert related.rows(
        "SELECT COUNT(*) FROM products p JOIN categories c ON c.id = p.category"
    ) == [(30,)]
    # foreign keys are enforced again, and still cascade as declared
    with pytest.raises(IntegrityError):
        related.insert("products", id="px", name="orphan", category="missing")
    with related.engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM categories WHERE id = 'c0'")
    assert related.rows("SELECT COUNT(*) FROM products") == [(20,)]


def test_rebuilding_the_referring_table_keeps_its_links(related):
    declaration = shop()
    declaration["collections"]["products"]["fields"]["status"]["values"] = [
        "draft",
        "live",
        "sold",
    ]
    related.migrate(declaration)
    assert related.rows(
        "SELECT COUNT(*) FROM products p JOIN categories c ON c.id = p.category"
    ) == [(30,)]
    with pytest.raises(IntegrityError):
        related.insert("products", id="px", name="orphan", category="missing")


def test_sqlite_connections_enforce_foreign_keys_after_a_rebuild(sqlite_url, tmp_path):
    engine = create_database_engine(sqlite_url)
    try:
        migrator = Migrator(engine, tmp_path / "migrations")
        migrator.migrate(shop())
        migrator.migrate(_rename_category_name(shop()))
        for _ in range(3):  # every pooled connection
            with engine.connect() as connection:
                assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def test_sqlite_rebuild_that_would_leave_dangling_rows_is_rolled_back(sqlite_url, tmp_path):
    engine = create_database_engine(sqlite_url)
    try:
        migrator = Migrator(engine, tmp_path / "migrations")
        migrator.migrate(shop())
        migrator.insert("categories", id="c1", name="books")
        # a row that already points nowhere (written with foreign keys off)
        with engine.connect() as connection:
            raw = connection.connection.driver_connection
            raw.execute("PRAGMA foreign_keys=OFF")
            raw.execute(
                "INSERT INTO products (id, created, updated, name, category) "
                "VALUES ('p1', '2024-01-01', '2024-01-01', 'lost', 'gone')"
            )
            raw.execute("PRAGMA foreign_keys=ON")
        plan = migrator.plan(_rename_category_name(shop()))
        with pytest.raises(ForeignKeyCheckError, match="products -> categories"):
            apply_migrations(engine, migrator.directory)
        assert "name" in migrator.columns("categories")
        assert migrator.rows(f"SELECT name FROM {HISTORY_TABLE}") == [
            ("0001_create_categories_products",)
        ]
        assert plan.path.exists()
    finally:
        engine.dispose()
