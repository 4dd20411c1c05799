"""Renames declared with ``renamed_from``, which Alembic's diff would see as a drop plus an add.

A collection or field is renamed when the database has its old name and not its new one (and the
old name is not declared any more). The comparison then runs against the declaration with these
renames undone, so Alembic compares like with like; the steps it finds are translated back into
the new names. Index and constraint names follow table and column names (the naming convention),
so they are renamed too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import MetaData, UniqueConstraint
from sqlalchemy.engine.reflection import Inspector

from ...spec.model import Spec
from .model import Change


@dataclass
class Renames:
    # final table -> current table, for collections renamed by this migration
    tables: dict[str, str] = field(default_factory=dict)
    # final table -> {final column: current column}, for fields renamed by this migration
    columns: dict[str, dict[str, str]] = field(default_factory=dict)

    def db_table(self, final: str) -> str:
        return self.tables.get(final, final)

    def final_table(self, db_table: str) -> str:
        for final, current in self.tables.items():
            if current == db_table:
                return final
        return db_table

    def db_column(self, final_table: str, final_column: str) -> str:
        return self.columns.get(final_table, {}).get(final_column, final_column)

    def final_column(self, final_table: str, db_column: str) -> str:
        for final, current in self.columns.get(final_table, {}).items():
            if current == db_column:
                return final
        return db_column


def find_renames(inspector: Inspector, db_tables: set[str], spec: Spec) -> Renames:
    renames = Renames()
    for final, collection in spec.collections.items():
        old = collection.renamed_from
        if (
            old
            and final not in db_tables
            and old in db_tables
            and old not in spec.collections  # still declared: not a rename
            and old not in renames.tables.values()
        ):
            renames.tables[final] = old
    for final, collection in spec.collections.items():
        current = renames.db_table(final)
        if current not in db_tables:
            continue
        columns = {c["name"] for c in inspector.get_columns(current)}
        renamed = {
            name: f.renamed_from
            for name, f in collection.fields.items()
            if f.renamed_from
            and name not in columns
            and f.renamed_from in columns
            and f.renamed_from not in collection.fields
        }
        if renamed:
            renames.columns[final] = renamed
    return renames


def spec_in_database_names(spec: Spec, renames: Renames) -> Spec:
    """The declaration with pending renames undone, so Alembic compares like with like."""
    data = spec.model_dump()
    collections = {}
    for final, collection in data["collections"].items():
        columns = renames.columns.get(final, {})
        fields = {}
        for name, f in collection["fields"].items():
            if f["type"] == "relation" and f["to"] in renames.tables:
                f["to"] = renames.tables[f["to"]]
            f["renamed_from"] = None
            fields[columns.get(name, name)] = f
        collection["fields"] = fields
        collection["indexes"] = [[columns.get(c, c) for c in ix] for ix in collection["indexes"]]
        collection["renamed_from"] = None
        collections[renames.db_table(final)] = collection
    data["collections"] = collections
    return Spec.model_validate(data)


def rename_changes(inspector: Inspector, renames: Renames, target: MetaData) -> list[Change]:
    changes = [
        Change(
            "rename_table",
            final,
            f"rename collection {current} to {final} (rows kept)",
            details={"from": current},
        )
        for final, current in renames.tables.items()
    ]
    for final, columns in renames.columns.items():
        changes.extend(
            Change(
                "rename_column",
                final,
                f"rename field {final}.{old} to {new} (values kept)",
                column=new,
                details={"from": old},
            )
            for new, old in columns.items()
        )
    for final in sorted({*renames.tables, *renames.columns}):
        pairs = _constraint_renames(inspector, renames, target, final)
        if pairs:
            changes.append(
                Change(
                    "rename_constraints",
                    final,
                    f"rename the indexes and constraints of {final} after its new names",
                    details={"renames": pairs},
                )
            )
    return changes


def _constraint_renames(
    inspector: Inspector, renames: Renames, target: MetaData, final: str
) -> list[dict[str, str]]:
    """Pairs (current name, declared name) of the indexes and constraints of a renamed table."""
    current = renames.db_table(final)
    table = target.tables[final]
    pairs: list[dict[str, str]] = []

    def columns(names: list[str]) -> list[str]:
        return [renames.final_column(final, n) for n in names]

    def add(kind: str, old: str | None, new: str | None) -> None:
        if old and new and old != new:
            pairs.append({"kind": kind, "from": old, "to": str(new)})

    add("constraint", inspector.get_pk_constraint(current).get("name"), table.primary_key.name)
    for ix in inspector.get_indexes(current):
        if ix.get("duplicates_constraint"):
            continue
        wanted = columns(ix["column_names"])
        for index in table.indexes:
            same = [c.name for c in index.columns] == wanted
            if same and bool(index.unique) == bool(ix["unique"]):
                add("index", ix["name"], index.name)
    for uq in inspector.get_unique_constraints(current):
        wanted = columns(uq["column_names"])
        for constraint in table.constraints:
            if (
                isinstance(constraint, UniqueConstraint)
                and [c.name for c in constraint.columns] == wanted
            ):
                add("constraint", uq["name"], constraint.name)
    for fk in inspector.get_foreign_keys(current):
        wanted = columns(fk["constrained_columns"])
        referred = renames.final_table(fk["referred_table"])
        for constraint in table.foreign_key_constraints:
            if constraint.column_keys == wanted and constraint.referred_table.name == referred:
                add("constraint", fk["name"], constraint.name)
    prefix = f"ck_{current}_"
    for ck in inspector.get_check_constraints(current):
        name = ck.get("name") or ""
        if name.startswith(prefix) and name.endswith("_values"):
            column = renames.final_column(final, name[len(prefix) : -len("_values")])
            new = f"ck_{final}_{column}_values"
            if any(c.name == new for c in table.constraints):
                add("constraint", name, new)
    return pairs
