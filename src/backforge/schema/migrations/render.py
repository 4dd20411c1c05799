"""The SQL each step runs, on SQLite and on PostgreSQL.

Both dialects are rendered from the declaration and the database's current names, whichever
database the plan was computed against, so one plan file migrates a SQLite development database
and a PostgreSQL production database alike.

PostgreSQL can ALTER everything in place. SQLite cannot change a column or a constraint, so a
table with such a change is rebuilt once, into its declared shape: create ``_bf_new_<table>``,
copy the rows, drop the old table, rename the new one, recreate the indexes. The rebuild runs with
foreign keys switched off (so the drop cascades nothing) and is checked before commit
(see ``runner.locked_transaction``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from alembic.ddl.base import AddColumn, ColumnDefault, ColumnName, DropColumn, RenameTable
from sqlalchemy import Column, MetaData, Table, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.schema import AddConstraint, CheckConstraint, CreateIndex, CreateTable, DropTable

from .diff import PHASES, SchemaDiff
from .model import Change

DIALECTS: dict[str, Dialect] = {
    "sqlite": sqlite.dialect(),
    "postgresql": postgresql.dialect(),
}
REBUILD_PREFIX = "_bf_new_"
# Steps SQLite cannot do with ALTER TABLE: their table is rebuilt.
_SQLITE_REBUILDS = frozenset(
    {
        "rename_column",
        "rename_table",
        "rename_constraints",
        "change_type",
        "set_optional",
        "set_required",
        "set_select_values",
        "add_unique",
        "drop_unique",
        "add_foreign_key",
        "drop_foreign_key",
        "drop_column",
    }
)


# Steps a SQLite rebuild does not do: they run as well (a rename before it, data after it).
_NOT_IN_REBUILDS = frozenset({"rename_table", "lower_emails", "number_rows"})


def render_changes(diff: SchemaDiff) -> list[Change]:
    """Fill ``change.sql`` for both dialects; add the SQLite rebuild steps. Returns the steps."""
    rebuilt = _tables_sqlite_rebuilds(diff)
    for table in sorted(rebuilt):
        diff.changes.append(
            Change(
                "rebuild_table",
                table,
                f"SQLite only: rebuild {table} into its declared shape (copy every row into a new "
                "table, swap it in, recreate its indexes), for the changes above that SQLite "
                "cannot ALTER; foreign keys are off during the copy and checked before commit",
            )
        )
    diff.changes.sort(key=lambda c: PHASES[c.op])
    for dialect_name, dialect in DIALECTS.items():
        renderer = _Renderer(diff, dialect, rebuilt if dialect_name == "sqlite" else set())
        for change in diff.changes:
            change.sql[dialect_name] = renderer.render(change)
    return diff.changes


def _tables_sqlite_rebuilds(diff: SchemaDiff) -> set[str]:
    tables = set()
    for change in diff.changes:
        if change.op in _SQLITE_REBUILDS and not _with_its_table(change):
            tables.add(change.table)
        elif change.op == "add_column":
            column = diff.target.tables[change.table].c[change.column]
            if not _sqlite_can_add(column):
                tables.add(change.table)
    return tables


def _with_its_table(change: Change) -> bool:
    """A foreign key of a cycle, created or dropped with its table (no rebuild on SQLite)."""
    return bool(change.details.get("new_table") or change.details.get("dropped_table"))


def _sqlite_can_add(column: Column) -> bool:
    """ALTER TABLE ADD COLUMN suffices for a plain optional column."""
    table = column.table
    constrained = any(
        column.name in {c.name for c in getattr(constraint, "columns", [])}
        for constraint in table.constraints
        if constraint is not table.primary_key
    ) or any(
        isinstance(c, CheckConstraint) and str(c.name) == f"ck_{table.name}_{column.name}_values"
        for c in table.constraints
    )
    return column.nullable and not column.foreign_keys and not constrained


class _Renderer:
    def __init__(self, diff: SchemaDiff, dialect: Dialect, rebuilt: set[str]) -> None:
        self.diff = diff
        self.dialect = dialect
        self.rebuilt = rebuilt
        self.q: Callable[[str], str] = dialect.identifier_preparer.quote

    def render(self, change: Change) -> list[str]:
        if change.op == "rebuild_table":
            return self.rebuild(change.table) if change.table in self.rebuilt else []
        if change.table in self.rebuilt and change.op not in _NOT_IN_REBUILDS:
            return []  # the rebuild of this table does it
        return [_clean(s) for s in getattr(self, change.op)(change)]

    def compile(self, construct: Any) -> str:
        return str(construct.compile(dialect=self.dialect))

    def table(self, name: str) -> Table:
        return self.diff.target.tables[name]

    # -- one method per step -----------------------------------------------------------------

    def create_table(self, change: Change) -> list[str]:
        table = self.table(change.table)
        return [self.compile(CreateTable(table)), *self.create_indexes(table)]

    def drop_table(self, change: Change) -> list[str]:
        return [self.compile(DropTable(Table(change.table, MetaData())))]

    def rename_table(self, change: Change) -> list[str]:
        return [self.compile(RenameTable(change.details["from"], change.table))]

    def rename_column(self, change: Change) -> list[str]:
        return [self.compile(ColumnName(change.table, change.details["from"], change.column))]

    def rename_constraints(self, change: Change) -> list[str]:
        statements = []
        for pair in change.details["renames"]:
            old, new = self.q(pair["from"]), self.q(pair["to"])
            if pair["kind"] == "index":
                statements.append(f"ALTER INDEX {old} RENAME TO {new}")
            else:
                statements.append(
                    f"ALTER TABLE {self.q(change.table)} RENAME CONSTRAINT {old} TO {new}"
                )
        return statements

    def add_column(self, change: Change) -> list[str]:
        declared = self.table(change.table).c[change.column]
        fill = change.details.get("fill")
        table, column = self.q(change.table), self.q(change.column)
        if not declared.nullable and fill is not None:
            # The field's default fills existing rows, then stops being the database's business.
            added = Column(
                declared.name,
                declared.type,
                nullable=False,
                server_default=text(self.literal(fill, declared)),
            )
            statements = [
                self.compile(AddColumn(change.table, added)),
                self.compile(ColumnDefault(change.table, change.column, None)),
            ]
        else:
            added = Column(declared.name, declared.type, nullable=declared.nullable)
            statements = [self.compile(AddColumn(change.table, added))]
            if fill is not None:
                statements.append(
                    f"UPDATE {table} SET {column} = {self.literal(fill, declared)} "  # noqa: S608
                    f"WHERE {column} IS NULL"
                )
        check = self.check_for(change.table, change.column)
        if check is not None:
            statements.append(self.compile(AddConstraint(check)))
        return statements

    def drop_column(self, change: Change) -> list[str]:
        return [self.compile(DropColumn(change.table, Column(change.column)))]

    def change_type(self, change: Change) -> list[str]:
        declared = self.table(change.table).c[change.column]
        type_sql = self.compile(declared.type)
        column = self.q(change.column)
        return [
            f"ALTER TABLE {self.q(change.table)} ALTER COLUMN {column} TYPE {type_sql} "
            f"USING {column}::{type_sql}"
        ]

    def set_optional(self, change: Change) -> list[str]:
        return [
            f"ALTER TABLE {self.q(change.table)} ALTER COLUMN {self.q(change.column)} DROP NOT NULL"
        ]

    def set_required(self, change: Change) -> list[str]:
        table, column = self.q(change.table), self.q(change.column)
        statements = []
        fill = change.details.get("fill")
        if fill is not None:
            declared = self.table(change.table).c[change.column]
            statements.append(
                f"UPDATE {table} SET {column} = {self.literal(fill, declared)} "  # noqa: S608
                f"WHERE {column} IS NULL"
            )
        statements.append(f"ALTER TABLE {table} ALTER COLUMN {column} SET NOT NULL")
        return statements

    def set_select_values(self, change: Change) -> list[str]:
        table, column = self.q(change.table), self.q(change.column)
        details = change.details
        statements = []
        new = details.get("to")
        if new is not None and details.get("narrowing"):
            replacement = self.select_replacement(change)
            if replacement is not None:
                allowed = ", ".join(self.literal(v) for v in new)
                statements.append(
                    f"UPDATE {table} SET {column} = {replacement} "  # noqa: S608
                    f"WHERE {column} IS NOT NULL AND {column} NOT IN ({allowed})"
                )
        before = details.get("check_before")
        if before:
            renamed = self.renamed_constraint(change.table, before)
            statements.append(f"ALTER TABLE {table} DROP CONSTRAINT {self.q(renamed)}")
        check = self.check_for(change.table, change.column)
        if check is not None:
            statements.append(self.compile(AddConstraint(check)))
        return statements

    def add_unique(self, change: Change) -> list[str]:
        return [self.compile(AddConstraint(self.constraint(change.table, change.details["name"])))]

    def add_foreign_key(self, change: Change) -> list[str]:
        if change.details.get("new_table") and self.dialect.name == "sqlite":
            return []  # in the table's CREATE TABLE: SQLite cannot add one later, nor needs to
        return self.add_unique(change)

    def add_index(self, change: Change) -> list[str]:
        name = change.details["name"]
        index = next(i for i in self.table(change.table).indexes if i.name == name)
        return [self.compile(CreateIndex(index))]

    def drop_index(self, change: Change) -> list[str]:
        return [f"DROP INDEX {self.q(change.details['name'])}"]

    def drop_unique(self, change: Change) -> list[str]:
        return [
            f"ALTER TABLE {self.q(change.details['db_table'])} "
            f"DROP CONSTRAINT {self.q(change.details['name'])}"
        ]

    def drop_foreign_key(self, change: Change) -> list[str]:
        if change.details.get("dropped_table") and self.dialect.name == "sqlite":
            return []  # the table goes with it; foreign keys are off while SQLite migrates
        return self.drop_unique(change)

    def lower_emails(self, change: Change) -> list[str]:
        table, email = self.q(change.table), self.q(str(change.column))
        return [f"UPDATE {table} SET {email} = lower({email}) WHERE {email} <> lower({email})"]  # noqa: S608

    def number_rows(self, change: Change) -> list[str]:
        table, column = self.q(change.table), self.q(str(change.column))
        return [
            f"UPDATE {table} SET {column} = numbered.n FROM (SELECT id, "  # noqa: S608
            f"ROW_NUMBER() OVER (ORDER BY created, id) AS n FROM {table}) AS numbered "
            f"WHERE {table}.id = numbered.id"
        ]

    # -- the SQLite rebuild ------------------------------------------------------------------

    def rebuild(self, name: str) -> list[str]:
        table = self.table(name)
        temporary = REBUILD_PREFIX + name
        create = self.compile(CreateTable(table)).strip()
        head = f"CREATE TABLE {self.q(name)} ("
        if not create.startswith(head):
            raise AssertionError(f"unexpected DDL for {name}: {create[:80]}")
        create = f"CREATE TABLE {self.q(temporary)} (" + create[len(head) :]
        sources = self.rebuild_sources(name)
        columns = [c.name for c in table.columns]
        copy = (
            f"INSERT INTO {self.q(temporary)} ({', '.join(self.q(c) for c in columns)})\n"
            f"SELECT {', '.join(sources[c] for c in columns)}\nFROM {self.q(name)}"
        )
        return [
            _clean(create),
            copy,
            f"DROP TABLE {self.q(name)}",
            f"ALTER TABLE {self.q(temporary)} RENAME TO {self.q(name)}",
            *(_clean(s) for s in self.create_indexes(table)),
        ]

    def rebuild_sources(self, name: str) -> dict[str, str]:
        """For each declared column, the SQL that gives its value from the old table."""
        table = self.table(name)
        existing = set(self.diff.db_columns.get(name, []))
        renames = self.diff.column_renames.get(name, {})
        sources: dict[str, str] = {}
        for column in table.columns:
            current = renames.get(column.name, column.name)
            sources[column.name] = self.q(current) if current in existing else "NULL"
        for change in self.diff.changes:
            if change.table != name or change.column is None:
                continue
            column = table.c.get(change.column)
            if column is None:
                continue
            source = sources[change.column]
            fill = change.details.get("fill")
            if change.op == "add_column" and fill is not None:
                sources[change.column] = self.literal(fill, column)
            elif change.op == "set_required" and fill is not None:
                sources[change.column] = f"COALESCE({source}, {self.literal(fill, column)})"
            elif change.op == "set_select_values" and change.details.get("narrowing"):
                replacement = self.select_replacement(change)
                if replacement is not None:
                    allowed = ", ".join(self.literal(v) for v in change.details["to"])
                    sources[change.column] = (
                        f"CASE WHEN {source} IS NULL OR {source} IN ({allowed}) "
                        f"THEN {source} ELSE {replacement} END"
                    )
        return sources

    # -- helpers -----------------------------------------------------------------------------

    def create_indexes(self, table: Table) -> list[str]:
        return [
            self.compile(CreateIndex(index))
            for index in sorted(table.indexes, key=lambda i: str(i.name))
        ]

    def select_replacement(self, change: Change) -> str | None:
        """What a row holding a removed select value becomes; None: leave it (and fail)."""
        fallback = change.details.get("fallback")
        if fallback is not None:
            return self.literal(fallback)
        if not change.details.get("required"):
            return "NULL"
        return None

    def check_for(self, table: str, column: str) -> CheckConstraint | None:
        for constraint in self.table(table).constraints:
            if isinstance(constraint, CheckConstraint) and str(constraint.name) == (
                f"ck_{table}_{column}_values"
            ):
                return constraint
        return None

    def constraint(self, table: str, name: str):
        return next(c for c in self.table(table).constraints if str(c.name) == name)

    def renamed_constraint(self, table: str, name: str) -> str:
        for change in self.diff.changes:
            if change.op == "rename_constraints" and change.table == table:
                for pair in change.details["renames"]:
                    if pair["from"] == name:
                        return pair["to"]
        return name

    def literal(self, value: Any, column: Column | None = None) -> str:
        if isinstance(value, bool):
            if self.dialect.name == "postgresql":
                return "true" if value else "false"
            return "1" if value else "0"
        if isinstance(value, int | float | Decimal):
            return str(Decimal(str(value)))
        if isinstance(value, dict | list):
            value = json.dumps(value, separators=(",", ":"))
        return "'" + str(value).replace("'", "''") + "'"


def _clean(statement: str) -> str:
    """Statements as a reviewer reads them: no tabs, no blank lines, no trailing space."""
    lines = [line.rstrip().replace("\t", "    ") for line in statement.strip().splitlines()]
    return "\n".join(line for line in lines if line)


__all__ = ["DIALECTS", "render_changes"]
