"""Rows to JSON-ready dicts, with one converter per column prepared once per collection."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from ..spec.model import Collection

SYSTEM_COLUMNS = ("id", "created", "updated", "version")
Converter = Callable[[Any], Any]


def format_datetime(value: dt.datetime) -> str:
    # SQLite hands back naive values; everything is stored in UTC.
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds") + "Z"


def _datetime(value: Any) -> Any:
    if value.__class__ is str:
        # As SQLite stores it (UTC): "2025-01-01 00:00:09.055000".
        if len(value) == 26 and value[10] == " ":
            return f"{value[:10]}T{value[11:]}Z"
        value = dt.datetime.fromisoformat(value)
    return None if value is None else format_datetime(value)


def _date(value: Any) -> Any:
    if value is None or value.__class__ is str:  # SQLite stores dates as ISO text
        return value
    return value.isoformat()


def _decimal(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, Decimal):
        value = Decimal(str(value))
    return str(value)


def _float(value: Any) -> Any:
    return None if value is None else float(value)


def _bool(value: Any) -> Any:
    return None if value is None else bool(value)


_CONVERTERS: dict[str, Converter] = {
    "datetime": _datetime,
    "date": _date,
    "decimal": _decimal,
    "float": _float,
    "bool": _bool,
}


class RowSerializer:
    """Turns a database row of one collection into the record clients see."""

    def __init__(self, collection: Collection, hidden: frozenset[str] = frozenset()):
        names = [*SYSTEM_COLUMNS, *(n for n in collection.fields if n not in hidden)]
        kinds = {"created": "datetime", "updated": "datetime"}
        kinds.update({n: f.type for n, f in collection.fields.items()})
        self.names = tuple(names)
        # Only the columns whose JSON form differs from the stored value.
        self.converters: tuple[tuple[str, Converter], ...] = tuple(
            (name, convert)
            for name in names
            if (convert := _CONVERTERS.get(kinds.get(name, ""))) is not None
        )

    def __call__(self, row: Mapping[str, Any], only: frozenset[str] | None = None) -> dict:
        """The record of `row`, which may hold other columns too (they are left out)."""
        return self.selected([{name: row[name] for name in self.names}], only)[0]

    def selected(self, rows: list[dict[str, Any]], only: frozenset[str] | None = None) -> list:
        """The records of rows holding exactly the visible columns (as `RecordStore.select_for`
        reads them; never a row of the whole table, whose hidden columns would go out too),
        converted in place, a column at a time: a page would otherwise build every record
        twice, and a call per row and column cost a tenth of it."""
        if only is not None:
            rows = [{name: value for name, value in row.items() if name in only} for row in rows]
        for name, convert in self.converters:
            if only is None or name in only:
                for row in rows:
                    row[name] = convert(row[name])
        return rows


def json_value(kind: str, value: Any) -> Any:
    """One value as it appears in JSON (for cursors)."""
    convert = _CONVERTERS.get(kind)
    return convert(value) if convert is not None else value
