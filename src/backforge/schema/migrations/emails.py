"""Account addresses in lower case, which Alembic's diff cannot see (it is data, not schema).

Accounts store their email in lower case (`spec.auth_fields.account_email`), so the plain unique
index on it refuses `ALICE@ex.com` beside `alice@ex.com` on both databases, and logins find an
account through that index. Rows written before may hold capitals: one step lowers them. While
two accounts differ only in case the step is refused: a person must decide which one stays.

SQL's lower() changes ASCII letters on SQLite (and, on PostgreSQL, what the database's collation
knows); addresses with other capital letters are left as they are.
"""

from __future__ import annotations

from sqlalchemy import Connection

from ...spec.auth_fields import ACCOUNT_EMAIL
from ...spec.model import Spec
from .model import Change
from .renames import Renames


def email_case_changes(
    connection: Connection, spec: Spec, renames: Renames, db_columns: dict[str, list[str]]
) -> tuple[list[Change], list[str]]:
    """The steps that lower account addresses of tables that exist, and the refusals."""
    changes: list[Change] = []
    refusals: list[str] = []
    quote = connection.dialect.identifier_preparer.quote
    for final, collection in spec.collections.items():
        if collection.auth_options is None or ACCOUNT_EMAIL not in collection.fields:
            continue
        column = renames.db_column(final, ACCOUNT_EMAIL)
        if column not in db_columns.get(final, ()):
            continue  # a new table or column holds no rows written before
        table, email = quote(renames.db_table(final)), quote(column)
        capitals = _count(
            connection,
            f"SELECT COUNT(*) FROM {table} WHERE {email} <> lower({email})",  # noqa: S608
        )
        if not capitals:
            continue
        clashes = _count(
            connection,
            f"SELECT COUNT(*) FROM (SELECT lower({email}) AS address FROM {table} "  # noqa: S608
            f"GROUP BY lower({email}) HAVING COUNT(*) > 1) AS clashes",
        )
        if clashes:
            refusals.append(
                f"{clashes} email address(es) of {final} belong to several accounts that differ "
                "only in case (group the rows by lower(email) to find them): change or delete "
                "all but one account of each address, then plan again"
            )
        changes.append(
            Change(
                "lower_emails",
                final,
                f"store the {capitals} email address(es) of {final} that have capitals in lower "
                "case (one account per address, whatever its case)",
                column=ACCOUNT_EMAIL,
                details={"rows": capitals},
            )
        )
    return changes, refusals


def _count(connection: Connection, sql: str) -> int:
    return int(connection.exec_driver_sql(sql).scalar() or 0)
