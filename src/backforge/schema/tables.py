"""The declaration as SQLAlchemy Core tables: one table per collection."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    literal_column,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeEngine

from ..spec.model import Collection, Field, Spec
from ..spec.relations import cycle_edges

# Stable constraint names, so that migrations can find and change them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
ID_LENGTH = 15
INTERNAL_PREFIX = "_bf_"
# The last number given to each serial field ("<collection>.<field>"): numbers never come back.
SERIALS_TABLE = INTERNAL_PREFIX + "serials"
_ON_DELETE_SQL = {"restrict": "RESTRICT", "cascade": "CASCADE", "set null": "SET NULL"}


def column_type(field: Field) -> TypeEngine:
    match field.type:
        case "text" | "email" | "url" | "select":
            return Text()
        case "int":
            return BigInteger()
        case "float":
            return Float(precision=53)
        case "decimal":
            return Numeric(field.max_digits, field.decimal_places, asdecimal=True)
        case "bool":
            return Boolean()
        case "date":
            return Date()
        case "datetime":
            return DateTime(timezone=True)
        case "json":
            return JSON().with_variant(JSONB(), "postgresql")
        case "relation":
            return String(ID_LENGTH)
        case "file":  # the stored name, or a list of them
            return JSON().with_variant(JSONB(), "postgresql") if field.multiple else Text()
    raise ValueError(f"no column type for {field.type}")


def select_check_name(field_name: str) -> str:
    return f"{field_name}_values"


def select_check_sql(field_name: str, values: list[str]) -> str:
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    # Quoted: a field may be named like an SQL keyword (order, select, user).
    return f'"{field_name}" IN ({quoted})'


def build_metadata(spec: Spec) -> MetaData:
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    cyclic = cyclic_relations(spec)
    for name, collection in spec.collections.items():
        deferred = frozenset(f for c, f in cyclic if c == name)
        build_table(metadata, name, collection, deferred)
    if any(c.auth_options is not None for c in spec.collections.values()):
        from ..auth.tables import add_auth_tables

        add_auth_tables(metadata)
    if any(f.serial for c in spec.collections.values() for f in c.fields.values()):
        Table(
            SERIALS_TABLE,
            metadata,
            Column("name", String(255), primary_key=True),
            Column("last", BigInteger, nullable=False),
        )
    if spec.jobs or spec.cron or spec.webhooks:
        from ..jobs.tables import add_job_tables

        add_job_tables(metadata)
    return metadata


def cyclic_relations(spec: Spec) -> set[tuple[str, str]]:
    """(collection, field) of each relation on a cycle of collections that refer to each other
    (`users.team -> teams`, `teams.owner -> users`): no table of a cycle can be created after
    the others, so these foreign keys are added once all exist (`use_alter`; inline on SQLite,
    which cannot add one later and does not need the target to exist). A relation to its own
    collection is no such cycle: one CREATE TABLE holds it."""
    targets = {
        name: {str(f.to) for f in c.fields.values() if f.type == "relation" and f.to}
        for name, c in spec.collections.items()
    }
    cyclic = cycle_edges(targets)
    return {
        (name, field_name)
        for name, collection in spec.collections.items()
        for field_name, field in collection.fields.items()
        if field.type == "relation" and (name, field.to) in cyclic
    }


def build_table(
    metadata: MetaData, name: str, collection: Collection, deferred: frozenset[str] = frozenset()
) -> Table:
    """`deferred`: relation fields whose foreign key is added after the table (a cycle)."""
    columns: list = [
        Column("id", String(ID_LENGTH), primary_key=True),
        Column("created", DateTime(timezone=True), nullable=False),
        Column("updated", DateTime(timezone=True), nullable=False),
        Column("version", Integer, nullable=False, server_default=text("1")),
    ]
    extras: list = []
    for field_name, field in collection.fields.items():
        args: list = []
        if field.type == "relation":
            args.append(
                ForeignKey(
                    f"{field.to}.id",
                    ondelete=_ON_DELETE_SQL[field.on_delete],
                    use_alter=field_name in deferred,
                )
            )
        columns.append(
            Column(
                field_name,
                column_type(field),
                *args,
                # A serial column takes numbers for rows it is added to after it is added.
                nullable=not field.required or field.serial,
                index=(field.index or field.type == "relation") and not field.unique,
            )
        )
        if field.unique:
            extras.append(UniqueConstraint(field_name))
        if field.type == "select" and field.values:
            extras.append(
                CheckConstraint(
                    # literal_column: verbatim SQL, so a value like ':x' is not a bind parameter
                    literal_column(select_check_sql(field_name, field.values)),
                    name=select_check_name(field_name),
                )
            )
    extras += [UniqueConstraint(*fields) for fields in collection.unique]
    table = Table(name, metadata, *columns, *extras)
    # The default order (newest first, id breaking ties) reads straight from this index.
    default = ("created", "id")
    Index(None, *(table.c[f] for f in default))
    for fields in collection.indexes:
        # id last: a page filtered on the first columns and sorted by the last (id breaking
        # ties, as in every sort) reads in order from the index, with no sorting step.
        columns = (*fields, "id") if "id" not in fields else tuple(fields)
        if columns != default:  # the same index twice would be refused
            Index(None, *(table.c[f] for f in columns))
    return table
