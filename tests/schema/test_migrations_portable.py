"""One migrations folder serves both databases: plans written against SQLite apply on
PostgreSQL and the other way round, and leave each database matching the declaration."""

from __future__ import annotations

import pytest
from migration_helpers import Migrator, shop

from backforge.database import create_database_engine
from backforge.schema.migrations import apply_migrations


def _history():
    """A realistic sequence: create, add, rename a field and a collection, change values."""
    first = shop()
    second = shop()
    second["collections"]["products"]["fields"]["stock"] = {
        "type": "int",
        "required": True,
        "default": 0,
    }
    third = shop()
    third["collections"]["products"]["fields"]["stock"] = second["collections"]["products"][
        "fields"
    ]["stock"]
    collections = third["collections"]
    collections["genres"] = {**collections.pop("categories"), "renamed_from": "categories"}
    fields = collections["products"]["fields"]
    fields["category"]["to"] = "genres"
    fields["title"] = {**fields.pop("name"), "renamed_from": "name"}
    fields["status"]["values"] = ["draft", "live", "sold"]
    return [first, second, third]


@pytest.mark.postgres
@pytest.mark.parametrize("planned_on", ["sqlite", "postgres"])
def test_plans_apply_on_the_other_database(planned_on, sqlite_url, postgres_url, tmp_path):
    urls = {"sqlite": sqlite_url, "postgres": postgres_url}
    other = "postgres" if planned_on == "sqlite" else "sqlite"
    planner_engine = create_database_engine(urls[planned_on])
    other_engine = create_database_engine(urls[other])
    try:
        planner = Migrator(planner_engine, tmp_path / "migrations")
        replica = Migrator(other_engine, tmp_path / "migrations")
        for step, declaration in enumerate(_history()):
            name = planner.migrate(declaration).name
            assert apply_migrations(other_engine, replica.directory) == [name]
            if step == 0:  # the later steps change a table that has rows
                replica.insert("categories", id="c1", name="books")
                replica.insert("products", id="p1", name="Atlas", status="live", category="c1")
        final = _history()[-1]
        assert replica.plan(final) is None
        assert planner.plan(final) is None
        assert set(replica.columns("products")) == set(planner.columns("products"))
        assert replica.select("products", "id", "title", "stock", "status", "category") == [
            ("p1", "Atlas", 0, "live", "c1")
        ]
        assert replica.select("genres", "id", "name") == [("c1", "books")]
    finally:
        planner_engine.dispose()
        other_engine.dispose()
