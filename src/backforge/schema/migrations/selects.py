"""The values of select fields: CHECK constraints, which Alembic's diff does not compare.

Each select field has a CHECK constraint named ``ck_<table>_<field>_values``; its quoted literals
are the allowed values. Adding values is safe; removing values (or turning free text into a
select) is destructive: rows holding a removed value get the field's default, else null, else the
migration fails.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.engine.reflection import Inspector

from ...spec.model import Field, Spec
from .model import Change
from .renames import Renames

_QUOTED = re.compile(r"'((?:[^']|'')*)'")


def select_value_changes(
    inspector: Inspector,
    spec: Spec,
    renames: Renames,
    db_columns: dict[str, list[str]],
) -> list[Change]:
    """Changes of allowed values, for the select fields of tables that exist already."""
    changes = []
    for final, collection in spec.collections.items():
        if final not in db_columns:
            continue  # a new table: create_table writes its checks
        current = renames.db_table(final)
        checks = {
            c["name"]: quoted_values(c["sqltext"])
            for c in inspector.get_check_constraints(current)
            if c.get("name")
        }
        for name, f in collection.fields.items():
            db_column = renames.db_column(final, name)
            if db_column not in db_columns[final]:
                continue  # a new column: add_column writes its check
            check = f"ck_{current}_{db_column}_values"
            old = checks.get(check)
            new = list(f.values) if f.type == "select" and f.values else None
            if old is None and new is None:
                continue
            if old is not None and new is not None and set(old) == set(new):
                continue
            changes.append(_change(final, name, f, old, new, check if old is not None else None))
    return changes


def quoted_values(sqltext: Any) -> list[str]:
    """The values of ``x IN ('a', 'b')`` (SQLite) or ``x = ANY (ARRAY['a'::text])`` (PG)."""
    return [v.replace("''", "'") for v in _QUOTED.findall(str(sqltext))]


def _change(
    final: str, name: str, f: Field, old: list[str] | None, new: list[str] | None, check: str | None
) -> Change:
    removed = [] if new is None else [v for v in (old or []) if v not in new]
    narrowing = new is not None and (old is None or bool(removed))
    fallback = f.default if (new and f.default in new) else None
    if old is None and new is not None:
        what = f"allow only {new} in {final}.{name} (it allowed any text)"
    elif new is None:
        what = f"allow any text in {final}.{name} (it allowed only {old})"
    else:
        added = [v for v in new if v not in old]
        parts = [f"add {added}" if added else "", f"REMOVE {removed}" if removed else ""]
        what = f"change the values of {final}.{name}: " + ", ".join(p for p in parts if p)
    if narrowing:
        if fallback is not None:
            what += f"; rows holding another value get {fallback!r}"
        elif not f.required:
            what += "; rows holding another value are set to null"
        else:
            what += "; the migration fails if a row holds another value"
    return Change(
        "set_select_values",
        final,
        what,
        destructive=narrowing,
        column=name,
        details={
            "from": old,
            "to": new,
            "narrowing": narrowing,
            "fallback": fallback,
            "required": f.required,
            "check_before": check,
        },
    )
