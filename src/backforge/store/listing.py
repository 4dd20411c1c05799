"""The list request: filter, sort, keyset cursor, page size, field selection and expansion."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Table, and_, bindparam, false, literal, or_

from ..rules import ColumnRef, ExpressionError, RecordScope, compile_expression, parse
from ..rules.parser import is_storable_text
from ..rules.values import coerce
from ..spec.model import Collection, Settings
from .errors import InvalidQuery
from .serialize import json_value

QUERY_PARAMETERS = frozenset({"filter", "sort", "limit", "cursor", "total", "fields", "expand"})
DEFAULT_SORT = "-created"
# Field names start with a letter, so no generated parameter name can be one of these.
_CURSOR_PARAMETER = "_cursor_{}"


@dataclass(frozen=True)
class SortKey:
    name: str
    kind: str
    descending: bool
    nullable: bool


@dataclass(frozen=True)
class ListRequest:
    filter: str | None = None
    sort: str | None = None
    limit: int | None = None
    cursor: str | None = None
    total: bool = False
    fields: tuple[str, ...] | None = None
    expand: tuple[str, ...] = ()
    # Records skipped before the page (declared routes paged by offset); None: keyset paging.
    offset: int | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, str], settings: Settings) -> ListRequest:
        unknown = sorted(set(params) - QUERY_PARAMETERS)
        if unknown:
            known = ", ".join(sorted(QUERY_PARAMETERS))
            raise InvalidQuery(
                f"unknown query parameter '{unknown[0]}' (known: {known})", unknown[0]
            )
        limit = None
        if "limit" in params:
            raw = params["limit"]
            # ASCII digits only: str.isdigit() admits '³' (int() fails) and '٣' (int() reads 3).
            if not _digits(raw) or not 1 <= int(raw) <= settings.max_page_size:
                raise InvalidQuery(
                    f"limit must be a whole number from 1 to {settings.max_page_size}", "limit"
                )
            limit = int(raw)
        total = params.get("total", "false").lower()
        if total not in ("true", "false", "1", "0"):
            raise InvalidQuery("total must be true or false", "total")
        return cls(
            filter=params.get("filter"),
            sort=params.get("sort"),
            limit=limit,
            cursor=params.get("cursor") or None,
            total=total in ("true", "1"),
            fields=_names(params["fields"], "fields") or None if "fields" in params else None,
            expand=_names(params.get("expand", ""), "expand"),
        )


def _digits(text: str) -> bool:
    """A whole number as the document means it: ASCII digits, short enough to convert."""
    return text.isascii() and text.isdigit() and len(text) <= 18


# What the OpenAPI document allows: names joined by commas, nothing else (an empty list too).
_NAME_LIST = re.compile(r"(?:[A-Za-z_][A-Za-z0-9_]*(?:,[A-Za-z_][A-Za-z0-9_]*)*)?")


def _names(text: str, parameter: str) -> tuple[str, ...]:
    # Checked whole: str.strip() also drops control characters such as \x1f, which made
    # `fields=%1F` an empty selection (every field) instead of a refused one.
    if not _NAME_LIST.fullmatch(text):
        raise InvalidQuery(
            f"{parameter} must be names separated by commas, e.g. id,title", parameter
        )
    return tuple(text.split(",")) if text else ()


def sort_keys(text: str | None, collection: Collection, visible: frozenset[str]) -> list[SortKey]:
    keys: list[SortKey] = []
    for part in (text or DEFAULT_SORT).split(","):
        part = part.strip()
        if not part:
            raise InvalidQuery("sort has an empty item; write e.g. -created,title", "sort")
        descending = part.startswith("-")
        name = part.lstrip("+-")
        if name in ("created", "updated"):
            keys.append(SortKey(name, "datetime", descending, nullable=False))
        elif name == "id":
            keys.append(SortKey(name, "id", descending, nullable=False))
        elif name in collection.fields and name in visible:
            field = collection.fields[name]
            if field.kind == "json":
                raise InvalidQuery(f"cannot sort by '{name}': it holds a list or object", "sort")
            keys.append(SortKey(name, field.kind, descending, nullable=not field.required))
        else:
            sortable = ", ".join(["id", "created", "updated", *sorted(visible)])
            raise InvalidQuery(f"cannot sort by '{name}' (sortable: {sortable})", "sort")
        if sum(k.name == name for k in keys) > 1:
            keys.pop()  # a repeated key changes nothing: the first occurrence decides
    if not any(k.name == "id" for k in keys):
        # id breaks ties so that every row has exactly one place in the order.
        keys.append(SortKey("id", "id", keys[-1].descending, nullable=False))
    return keys


def order_by(table: Table, keys: Sequence[SortKey]) -> list:
    clauses = []
    for key in keys:
        column = table.c[key.name]
        clause = column.desc() if key.descending else column.asc()
        if key.nullable:
            # Empty values sort as the greatest, the same on SQLite and PostgreSQL.
            clause = clause.nulls_first() if key.descending else clause.nulls_last()
        clauses.append(clause)
    return clauses


def sort_signature(keys: Sequence[SortKey]) -> str:
    return ",".join(("-" if k.descending else "") + k.name for k in keys)


def encode_cursor(keys: Sequence[SortKey], row: Mapping[str, Any]) -> str:
    values = [json_value(k.kind, row[k.name]) for k in keys]
    raw = orjson.dumps([sort_signature(keys), *values], default=str)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(text: str, keys: Sequence[SortKey]) -> list[Any]:
    try:
        padded = text + "=" * (-len(text) % 4)
        data = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise InvalidQuery("cursor is not one this API issued", "cursor") from None
    if not isinstance(data, list) or len(data) != len(keys) + 1:
        raise InvalidQuery("cursor is not one this API issued", "cursor")
    if data[0] != sort_signature(keys):
        raise InvalidQuery("cursor belongs to a different sort; keep the same sort", "cursor")
    values = []
    for key, value in zip(keys, data[1:], strict=True):
        if value is None:
            if not key.nullable:
                raise InvalidQuery("cursor is not one this API issued", "cursor")
            values.append(None)
            continue
        try:
            values.append(_cursor_value(key, value))
        except (ExpressionError, InvalidOperation, TypeError):
            raise InvalidQuery("cursor is not one this API issued", "cursor") from None
    return values


def _cursor_value(key: SortKey, value: Any) -> Any:
    """A cursor value back in the column's type (decimals travel as text, like in records)."""
    if key.kind == "decimal":
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise TypeError
        return Decimal(str(value))
    if isinstance(value, str) and not is_storable_text(value):
        raise TypeError
    return coerce(ColumnRef(literal(None), key.kind, key.name), value)


def after_cursor(table: Table, keys: Sequence[SortKey], values: Sequence[Any]) -> ColumnElement:
    """Rows strictly after the cursor in the sort order (nulls count as the greatest value).
    Each value is a named parameter (`cursor_parameters`), so the statement can be reused."""
    alternatives = []
    equal_so_far: list[ColumnElement] = []
    for index, (key, value) in enumerate(zip(keys, values, strict=True)):
        column = table.c[key.name]
        if value is not None:
            value = bindparam(_CURSOR_PARAMETER.format(index), value, type_=column.type)
        if value is None:
            beyond = column.is_not(None) if key.descending else false()
            same = column.is_(None)
        elif key.descending:
            beyond = column < value
            same = column == value
        else:
            beyond = or_(column > value, column.is_(None)) if key.nullable else column > value
            same = column == value
        alternatives.append(and_(*equal_so_far, beyond))
        equal_so_far.append(same)
    return or_(*alternatives)


def cursor_parameters(values: Sequence[Any]) -> dict[str, Any]:
    """The runtime values of `after_cursor`'s parameters."""
    return {
        _CURSOR_PARAMETER.format(index): value
        for index, value in enumerate(values)
        if value is not None
    }


def compile_filter(text: str, scope: RecordScope, max_length: int) -> ColumnElement:
    try:
        return compile_expression(parse(text, max_length=max_length), scope)
    except ExpressionError as exc:
        raise InvalidQuery(f"invalid filter: {exc.message}", "filter", exc.position) from None
