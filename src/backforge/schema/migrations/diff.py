"""Compare the live database with the declaration.

Alembic's autogenerate comparison finds added and removed tables, columns, indexes, unique and
foreign-key constraints, nullability and type changes; here they become steps in the declared
names, with what a reviewer must know (rows to fill, rows that forbid a change, destructive or
not). What Alembic cannot see comes from beside it: renames declared with ``renamed_from``
(renames.py) and the values of select fields (selects.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import (
    Connection,
    ForeignKeyConstraint,
    Index,
    MetaData,
    Table,
    UniqueConstraint,
    inspect,
)
from sqlalchemy.engine.reflection import Inspector
from sqlalchemy.sql.ddl import sort_tables

from ...auth.tables import AUTH_TABLE_PREFIX
from ...jobs.tables import JOBS_TABLE_PREFIX
from ...spec.model import Field, Spec
from ...spec.relations import cycle_edges
from ..tables import INTERNAL_PREFIX, SERIALS_TABLE, build_metadata
from .emails import email_case_changes
from .errors import MigrationRefusedError
from .model import Change
from .renames import find_renames, rename_changes, spec_in_database_names
from .selects import select_value_changes
from .widening import is_widening

_IGNORED_DIFFS = frozenset(
    {"modify_default", "modify_comment", "add_table_comment", "remove_table_comment"}
)

# The order steps run in: drops of dependent objects first, renames, then additions, then drops.
PHASES = {
    "drop_index": 0,
    "drop_unique": 0,
    "drop_foreign_key": 0,
    "rename_table": 1,
    "rename_column": 2,
    "rename_constraints": 3,
    "create_table": 4,
    "add_column": 5,
    "change_type": 6,
    "set_optional": 6,
    "set_required": 6,
    "set_select_values": 6,
    "add_unique": 7,
    "add_foreign_key": 7,
    "add_index": 7,
    "drop_column": 8,
    "drop_table": 9,
    "rebuild_table": 10,
    # Data in the final names, once every table has its declared shape (on SQLite too).
    "lower_emails": 11,
    "number_rows": 11,
}


@dataclass
class SchemaDiff:
    """The changes, plus what the SQL renderer needs to know about the database as it is."""

    changes: list[Change]
    target: MetaData
    # Final table name -> its columns in the database now (their current names).
    db_columns: dict[str, list[str]] = field(default_factory=dict)
    # Final table name -> {final column name: current column name} for renamed columns.
    column_renames: dict[str, dict[str, str]] = field(default_factory=dict)
    # Changes that no flag makes safe (explained for the person).
    refusals: list[str] = field(default_factory=list)

    @property
    def destructive(self) -> list[Change]:
        return [change for change in self.changes if change.destructive]


def is_internal_table(name: str) -> bool:
    """Tables no declaration describes. The auth, jobs and serials tables are backforge's own
    but declared (they follow from an auth collection, jobs, cron, webhooks or a serial
    field), so they are migrated like collections."""
    if name.startswith((AUTH_TABLE_PREFIX, JOBS_TABLE_PREFIX)) or name == SERIALS_TABLE:
        return False
    return name.startswith((INTERNAL_PREFIX, "sqlite_")) or name == "alembic_version"


def _include_name(name, type_, _parent_names) -> bool:
    return not (type_ == "table" and is_internal_table(name))


def diff_schema(connection: Connection, spec: Spec) -> SchemaDiff:
    return _Differ(connection, spec).run()


class _Differ:
    def __init__(self, connection: Connection, spec: Spec) -> None:
        self.connection = connection
        self.spec = spec
        self.inspector: Inspector = inspect(connection)
        self.db_tables = {t for t in self.inspector.get_table_names() if not is_internal_table(t)}
        self.target = build_metadata(spec)
        self.changes: list[Change] = []
        self.refusals: list[str] = []
        self.renames = find_renames(self.inspector, self.db_tables, spec)
        self.final_table = self.renames.final_table
        self.final_column = self.renames.final_column
        # final table -> its columns in the database now, for every declared table that exists
        self.db_columns: dict[str, list[str]] = {}

    # -- the comparison ----------------------------------------------------------------------

    def run(self) -> SchemaDiff:
        for final in self.target.tables:
            current = self.renames.db_table(final)
            if current in self.db_tables:
                self.db_columns[final] = [c["name"] for c in self.inspector.get_columns(current)]
        self.changes.extend(rename_changes(self.inspector, self.renames, self.target))
        compare_target = build_metadata(spec_in_database_names(self.spec, self.renames))
        context = MigrationContext.configure(
            self.connection, opts={"compare_type": True, "include_name": _include_name}
        )
        diffs = compare_metadata(context, compare_target)
        created = {item[1].name for item in diffs if item[0] == "add_table"}
        for entry in diffs:
            for item in entry if isinstance(entry, list) else [entry]:
                # create_table makes the indexes of a new table itself
                if item[0] == "add_index" and item[1].table.name in created:
                    continue
                self._translate(item)
        self.changes.extend(
            select_value_changes(self.inspector, self.spec, self.renames, self.db_columns)
        )
        lowered, refusals = email_case_changes(
            self.connection, self.spec, self.renames, self.db_columns
        )
        self.changes.extend(lowered)
        self.refusals.extend(refusals)
        dropped = self._dropped_tables()
        unlinked = self._unlink_dropped_cycles(dropped)
        self.changes.sort(key=lambda c: PHASES[c.op])
        self._order_tables(dropped, unlinked)
        return SchemaDiff(
            changes=self.changes,
            target=self.target,
            db_columns=self.db_columns,
            column_renames=self.renames.columns,
            refusals=self.refusals,
        )

    # -- Alembic's diff, translated into steps in the final names ----------------------------

    def _translate(self, item: tuple) -> None:
        kind = item[0]
        if kind in _IGNORED_DIFFS:
            return
        handler = getattr(self, "_on_" + kind, None)
        if handler is None:
            raise MigrationRefusedError(f"backforge cannot migrate this change yet: {item!r}")
        handler(*item[1:])

    def _on_add_table(self, table) -> None:
        final = self.target.tables[table.name]
        self.changes.append(
            Change(
                "create_table",
                table.name,
                f"create collection {table.name} ({', '.join(c.name for c in final.columns)})",
            )
        )
        # Foreign keys of a cycle (`schema.tables.cyclic_relations`) come once every table is
        # there; SQLite's CREATE TABLE holds them already (`new_table`).
        for constraint in sorted(final.foreign_key_constraints, key=lambda c: str(c.name)):
            if constraint.use_alter:
                self.changes.append(
                    Change(
                        "add_foreign_key",
                        table.name,
                        f"link {table.name}.{constraint.column_keys[0]} to "
                        f"{constraint.referred_table.name} (on delete "
                        f"{constraint.ondelete or 'no action'}) once the collections that "
                        "refer to each other exist",
                        column=constraint.column_keys[0],
                        details={"name": str(constraint.name), "new_table": True},
                    )
                )

    def _on_remove_table(self, table) -> None:
        rows = self._count(f"SELECT COUNT(*) FROM {self._q(table.name)}")  # noqa: S608
        self.changes.append(
            Change(
                "drop_table",
                table.name,
                f"DROP collection {table.name} and its {rows} row(s)",
                destructive=True,
                details={"rows": rows},
            )
        )

    def _on_add_column(self, _schema, db_table: str, column) -> None:
        final = self.final_table(db_table)
        field = self._field(final, column.name)
        fill = _plain(field.default) if field is not None else None
        description = f"add field {final}.{column.name} ({_type_name(field)})"
        if not column.nullable:
            description = f"add required field {final}.{column.name} ({_type_name(field)})"
            if fill is None and self._has_rows(db_table):
                self.refusals.append(
                    f"{final}.{column.name} is required and {final} has rows: give the field a "
                    "default (existing rows get it), or add it as optional first, fill it, then "
                    "make it required"
                )
        if fill is not None:
            description += f"; existing rows get {fill!r}"
        self.changes.append(
            Change("add_column", final, description, column=column.name, details={"fill": fill})
        )
        if field is not None and field.serial and self._has_rows(db_table):
            self.changes.append(
                Change(
                    "number_rows",
                    final,
                    f"number the rows of {final} 1, 2, 3... in {column.name}, in the order "
                    "they were made (new records count on from the last)",
                    column=column.name,
                )
            )

    def _on_remove_column(self, _schema, db_table: str, column) -> None:
        final = self.final_table(db_table)
        self.changes.append(
            Change(
                "drop_column",
                final,
                f"DROP field {final}.{column.name} and its values",
                destructive=True,
                column=column.name,
            )
        )

    def _on_modify_nullable(self, _schema, db_table, db_column, _kw, _old, new) -> None:
        final = self.final_table(db_table)
        column = self.final_column(final, db_column)
        if new:  # nullable again
            self.changes.append(
                Change("set_optional", final, f"make {final}.{column} optional", column=column)
            )
            return
        field = self._field(final, column)
        fill = _plain(field.default) if field is not None else None
        missing = self._count(
            f"SELECT COUNT(*) FROM {self._q(db_table)} WHERE {self._q(db_column)} IS NULL"  # noqa: S608
        )
        description = f"make {final}.{column} required"
        if missing and fill is None:
            self.refusals.append(
                f"{final}.{column} cannot become required: {missing} row(s) have no value and "
                "the field has no default (give it a default, or fill those rows first)"
            )
        elif fill is not None:
            description += f"; rows without a value get {fill!r}"
        self.changes.append(
            Change(
                "set_required",
                final,
                description,
                column=column,
                details={"fill": fill, "rows_without_value": missing},
            )
        )

    def _on_modify_type(self, _schema, db_table, db_column, _kw, old_type, new_type) -> None:
        final = self.final_table(db_table)
        column = self.final_column(final, db_column)
        old_name, new_name = self._type_sql(old_type), self._type_sql(new_type)
        widening = is_widening(old_type, new_type)
        self.changes.append(
            Change(
                "change_type",
                final,
                f"change the type of {final}.{column} from {old_name} to {new_name}"
                + ("" if widening else " (NARROWING: values that do not fit are lost or fail)"),
                destructive=not widening,
                column=column,
                details={"from": old_name, "to": new_name},
            )
        )

    def _on_add_index(self, index: Index) -> None:
        final = self.final_table(index.table.name)
        target = self._find_index(final, [c.name for c in index.columns], bool(index.unique))
        self.changes.append(
            Change(
                "add_index",
                final,
                f"add index {target.name} on {final}({', '.join(c.name for c in target.columns)})",
                details={"name": str(target.name)},
            )
        )

    def _on_remove_index(self, index: Index) -> None:
        final = self.final_table(index.table.name)
        self.changes.append(
            Change(
                "drop_index",
                final,
                f"drop index {index.name} (the data stays)",
                details={"name": index.name, "db_table": index.table.name},
            )
        )

    def _on_add_constraint(self, constraint) -> None:
        if not isinstance(constraint, UniqueConstraint):
            raise MigrationRefusedError(f"backforge cannot migrate this constraint: {constraint!r}")
        final = self.final_table(constraint.table.name)
        columns = [self.final_column(final, c.name) for c in constraint.columns]
        target = next(
            c
            for c in self.target.tables[final].constraints
            if isinstance(c, UniqueConstraint) and [x.name for x in c.columns] == columns
        )
        self.changes.append(
            Change(
                "add_unique",
                final,
                f"make {final}.{', '.join(columns)} unique (fails if duplicates exist)",
                column=columns[0] if len(columns) == 1 else None,
                details={"name": str(target.name)},
            )
        )

    def _on_remove_constraint(self, constraint) -> None:
        final = self.final_table(constraint.table.name)
        self.changes.append(
            Change(
                "drop_unique",
                final,
                f"drop unique constraint {constraint.name}",
                details={"name": constraint.name, "db_table": constraint.table.name},
            )
        )

    def _on_add_fk(self, constraint: ForeignKeyConstraint) -> None:
        final = self.final_table(constraint.table.name)
        columns = [self.final_column(final, c) for c in constraint.column_keys]
        target = next(
            c for c in self.target.tables[final].foreign_key_constraints if c.column_keys == columns
        )
        self.changes.append(
            Change(
                "add_foreign_key",
                final,
                f"link {final}.{columns[0]} to {target.referred_table.name} "
                f"(on delete {target.ondelete or 'no action'})",
                column=columns[0],
                details={"name": str(target.name)},
            )
        )

    def _on_remove_fk(self, constraint: ForeignKeyConstraint) -> None:
        final = self.final_table(constraint.table.name)
        self.changes.append(
            Change(
                "drop_foreign_key",
                final,
                f"drop foreign key {constraint.name} (the values stay)",
                details={"name": constraint.name, "db_table": constraint.table.name},
            )
        )

    # -- helpers -----------------------------------------------------------------------------

    def _dropped_tables(self) -> list[Table]:
        """The tables to drop, as the database has them."""
        names = [c.table for c in self.changes if c.op == "drop_table"]
        if not names:
            return []
        reflected = MetaData()
        reflected.reflect(self.connection, only=names)  # and the tables they refer to
        return [reflected.tables[name] for name in sorted(names)]

    def _unlink_dropped_cycles(self, dropped: list[Table]) -> set[tuple[str, str]]:
        """Tables to drop that refer to each other: no one can go first while the others point
        at it (PostgreSQL refuses), so those foreign keys are dropped before them. SQLite needs
        no step: migrations run there with foreign keys off. Returns the (table, referred table)
        links dropped so."""
        names = {table.name for table in dropped}
        targets = {
            table.name: {fk.referred_table.name for fk in table.foreign_key_constraints} & names
            for table in dropped
        }
        cyclic = cycle_edges(targets)
        for table in dropped:
            for fk in sorted(table.foreign_key_constraints, key=lambda c: c.column_keys):
                referred = fk.referred_table.name
                if (table.name, referred) not in cyclic:
                    continue
                column = fk.column_keys[0]
                self.changes.append(
                    Change(
                        "drop_foreign_key",
                        table.name,
                        f"unlink {table.name}.{column} from {referred} (both are dropped)",
                        details={
                            "name": fk.name or f"fk_{table.name}_{column}_{referred}",
                            "db_table": table.name,
                            "dropped_table": True,
                        },
                    )
                )
        return cyclic

    def _order_tables(self, dropped: list[Table], unlinked: set[tuple[str, str]]) -> None:
        """Create referenced tables before the tables that refer to them; drop in reverse."""
        # Cycles of relations are no obstacle: their foreign keys are use_alter, left out here.
        order = {t.name: i for i, t in enumerate(self.target.sorted_tables)}
        creates = [c for c in self.changes if c.op == "create_table"]
        creates.sort(key=lambda c: order[c.table])
        drops = [c for c in self.changes if c.op == "drop_table"]
        if drops:
            # sort_tables hands skip_fn each ForeignKey of a constraint.
            in_order = sort_tables(
                dropped,
                skip_fn=lambda fk: (fk.parent.table.name, fk.column.table.name) in unlinked,
            )
            drop_order = {t.name: i for i, t in enumerate(reversed(in_order))}
            drops.sort(key=lambda c: drop_order[c.table])
        it_c, it_d = iter(creates), iter(drops)
        self.changes = [
            next(it_c) if c.op == "create_table" else next(it_d) if c.op == "drop_table" else c
            for c in self.changes
        ]

    def _field(self, final: str, column: str) -> Field | None:
        collection = self.spec.collections.get(final)
        return collection.fields.get(column) if collection else None

    def _find_index(self, final: str, db_columns: list[str], unique: bool) -> Index:
        columns = [self.final_column(final, c) for c in db_columns]
        for index in self.target.tables[final].indexes:
            if [c.name for c in index.columns] == columns and bool(index.unique) == unique:
                return index
        raise LookupError(f"no index on {final}{columns}")

    def _q(self, name: str) -> str:
        return self.connection.dialect.identifier_preparer.quote(name)

    def _count(self, sql: str) -> int:
        return int(self.connection.exec_driver_sql(sql).scalar() or 0)

    def _has_rows(self, db_table: str) -> bool:
        return (
            self.connection.exec_driver_sql(
                f"SELECT 1 FROM {self._q(db_table)} LIMIT 1"  # noqa: S608
            ).first()
            is not None
        )

    def _type_sql(self, type_) -> str:
        try:
            return str(type_.compile(dialect=self.connection.dialect))
        except Exception:  # a type the dialect cannot render: show what SQLAlchemy calls it
            return repr(type_)


def _type_name(f: Field | None) -> str:
    return f.type if f is not None else "?"


def _plain(value: Any) -> Any:
    """A default as the plan file stores it."""
    if isinstance(value, Decimal):
        return str(value)
    return value
