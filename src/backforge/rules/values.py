"""Values compared with a column: checked and converted to the column's type."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from ..spec.auth_fields import account_email
from .parser import ExpressionError

if TYPE_CHECKING:
    from .scope import ColumnRef

TEXT_KINDS = frozenset({"text", "email", "url", "select", "relation", "id"})
NUMBER_KINDS = frozenset({"int", "float", "decimal"})
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def coerce(column: ColumnRef, value: Any, operator: str = "=") -> Any:
    """The value as the column's type, or an ExpressionError that says what was expected."""
    kind = column.kind
    if operator in ("~", "!~"):
        if kind not in TEXT_KINDS:
            raise ExpressionError(f"'~' applies to text fields; {column.name} is {kind}")
        if not isinstance(value, str):
            raise ExpressionError(f"'~' needs a quoted string for {column.name}")
        return value
    if kind in TEXT_KINDS:
        if not isinstance(value, str):
            raise ExpressionError(f"{column.name} is {kind}: compare it with a quoted string")
        if column.folded:
            return account_email(value)
        if (
            kind == "select"
            and column.values
            and value not in column.values
            and operator in ("=", "!=")
        ):
            raise ExpressionError(
                f"'{value}' is not a value of {column.name} (values: {', '.join(column.values)})"
            )
        return value
    if kind in NUMBER_KINDS:
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise ExpressionError(f"{column.name} is {kind}: compare it with a number")
        if kind == "decimal":
            try:
                return Decimal(str(value))
            except InvalidOperation:
                raise ExpressionError(f"{column.name} needs a decimal number") from None
        if kind == "float":
            return float(value)
        if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
            raise ExpressionError(f"{value} is out of range for {column.name}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise ExpressionError(f"{column.name} is bool: compare it with true or false")
        return value
    if kind == "date":
        return _parse_date(column.name, value)
    if kind == "datetime":
        return _parse_datetime(column.name, value)
    raise ExpressionError(f"{column.name} ({kind}) can only be compared with null")


def _parse_date(name: str, value: Any) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    try:
        return dt.date.fromisoformat(str(value)) if isinstance(value, str) else _fail()
    except ValueError:
        raise ExpressionError(f'{name} is a date: write it as "YYYY-MM-DD"') from None


def _parse_datetime(name: str, value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        try:
            parsed = dt.datetime.fromisoformat(str(value)) if isinstance(value, str) else _fail()
        except ValueError:
            raise ExpressionError(
                f'{name} is a datetime: write it as "YYYY-MM-DDTHH:MM:SSZ" or a date'
            ) from None
    return to_utc(parsed)


def to_utc(value: dt.datetime) -> dt.datetime:
    """Datetimes are stored in UTC; a value without an offset is taken as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _fail() -> Any:
    raise ValueError
