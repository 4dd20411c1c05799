"""Helpers for migration tests: a declaration to edit, and a migrator that plans, applies,
writes and reads rows."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, Table, select, text

from backforge.schema.migrations import apply_migrations, plan_migration
from backforge.spec import Spec, load_dict

SHOP: dict[str, Any] = {
    "name": "shop",
    "collections": {
        "categories": {"fields": {"name": {"type": "text", "required": True, "unique": True}}},
        "products": {
            "fields": {
                "name": {"type": "text", "required": True},
                "price": {"type": "decimal", "min": 0},
                "status": {"type": "select", "values": ["draft", "live"], "default": "draft"},
                "category": {"type": "relation", "to": "categories", "on_delete": "cascade"},
            }
        },
    },
}


def shop(**changes: Any) -> dict[str, Any]:
    """A deep copy of the shop declaration, to edit freely."""
    data = copy.deepcopy(SHOP)
    data.update(changes)
    return data


class Migrator:
    def __init__(self, engine: Engine, directory: Path) -> None:
        self.engine = engine
        self.directory = directory

    def plan(self, declaration: dict[str, Any] | Spec, **kwargs):
        spec = declaration if isinstance(declaration, Spec) else load_dict(declaration)
        return plan_migration(self.engine, spec, self.directory, **kwargs)

    def migrate(self, declaration: dict[str, Any] | Spec, **kwargs):
        plan = self.plan(declaration, **kwargs)
        assert plan is not None, "expected changes to plan"
        assert apply_migrations(self.engine, self.directory) == [plan.name]
        return plan

    def insert(self, table: str, **values: Any) -> None:
        now = datetime.now(UTC)
        with self.engine.begin() as connection:
            reflected = Table(table, MetaData(), autoload_with=connection)
            connection.execute(reflected.insert().values(created=now, updated=now, **values))

    def select(self, table: str, *columns: str) -> list[tuple]:
        """Typed values of some columns, ordered by id."""
        with self.engine.connect() as connection:
            reflected = Table(table, MetaData(), autoload_with=connection)
            query = select(*(reflected.c[c] for c in columns)).order_by(reflected.c.id)
            return [tuple(r) for r in connection.execute(query)]

    def rows(self, sql: str, **params: Any) -> list[tuple]:
        with self.engine.connect() as connection:
            return [tuple(r) for r in connection.execute(text(sql), params)]

    def columns(self, table: str) -> list[str]:
        from sqlalchemy import inspect

        with self.engine.connect() as connection:
            return [c["name"] for c in inspect(connection).get_columns(table)]

    def tables(self) -> set[str]:
        from sqlalchemy import inspect

        with self.engine.connect() as connection:
            return set(inspect(connection).get_table_names())
