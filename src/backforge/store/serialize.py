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
    return None if value is None else format_datetime(value)


def _date(value: Any) -> Any:
    return None if value is None else value.isoformat()


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
        self.converters: tuple[tuple[str, Converter | None], ...] = tuple(
            (name, _CONVERTERS.get(kinds.get(name, ""))) for name in names
        )

    def __call__(self, row: Mapping[str, Any], only: frozenset[str] | None = None) -> dict:
        record = {}
        for name, convert in self.converters:
            if only is not None and name not in only:
                continue
            value = row[name]
            record[name] = convert(value) if convert is not None else value
        return record


def json_value(kind: str, value: Any) -> Any:
    """One value as it appears in JSON (for cursors)."""
    convert = _CONVERTERS.get(kind)
    return convert(value) if convert is not None else value
