"""Parameters: named values an expression uses as `params.<name>`, bound as SQL parameters and
never spliced into the expression's text.

Compiling an expression records a `Slot` for each use of a parameter (which column it is
compared with, how); the statement built once then runs with each request's values, converted
through its slots. A value that cannot be the column's type is an ExpressionError naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from sqlalchemy import BindParameter, String, bindparam

from ..spec.auth_fields import account_email
from .parser import ExpressionError, is_storable_text
from .values import TEXT_KINDS, coerce

if TYPE_CHECKING:
    from .scope import ColumnRef

NAMESPACE = "params"
# Kinds whose text values compare as they are (no select values to check).
_PLAIN_TEXT = frozenset({"text", "email", "url", "relation", "id"})
_INTEGER_TEXT = frozenset("0123456789")


class ParameterError(ExpressionError):
    """A parameter's value that cannot be the type of the field it is compared with."""

    def __init__(self, param: str, message: str):
        super().__init__(f"{NAMESPACE}.{param}: {message}")
        self.param = param


@dataclass(frozen=True)
class Slot:
    """One use of a parameter in a compiled statement."""

    bind: str
    param: str
    column: ColumnRef
    operator: str

    def value(self, raw: Any) -> Any:
        """The runtime value of the bound parameter for the parameter's value `raw` (None
        stays None: it matches nothing)."""
        if raw is None:
            return None
        if raw.__class__ is str and self.operator == "=" and self.column.kind in _PLAIN_TEXT:
            if not is_storable_text(raw):  # the common case (a key from a path), in short
                raise ExpressionError("a value may not hold NUL characters or unpaired surrogates")
            return account_email(raw) if self.column.folded else raw
        value = coerce(self.column, _from_text(self.column, raw), self.operator)
        if self.operator in ("~", "!~"):
            return like_pattern(value)
        return value


@dataclass
class Parameters:
    """The values of one compilation, and the slots it records."""

    values: Mapping[str, Any]
    slots: list[Slot] = field(default_factory=list)

    def get(self, name: str, position: int) -> Param:
        if name not in self.values:
            known = ", ".join(f"{NAMESPACE}.{n}" for n in self.values) or "none"
            raise ExpressionError(
                f"unknown parameter '{NAMESPACE}.{name}' (known: {known})", position
            )
        return Param(self, name, position)


@dataclass(frozen=True)
class Param:
    """`params.<name>` resolved: compared with a column, it becomes a bound parameter."""

    parameters: Parameters
    name: str
    position: int

    def bind(self, column: ColumnRef, operator: str) -> BindParameter:
        """The bound parameter standing for this value where it is compared with `column`
        (for ~ and !~, a LIKE pattern escaped with '/')."""
        if operator in ("~", "!~") and column.kind not in TEXT_KINDS:
            raise ExpressionError(f"'~' applies to text fields; {column.name} is {column.kind}")
        slot = Slot(f"_bf_param_{len(self.parameters.slots)}", self.name, column, operator)
        try:
            value = slot.value(self.parameters.values[self.name])
        except ExpressionError as exc:
            raise ParameterError(self.name, exc.message) from None
        self.parameters.slots.append(slot)
        kind = String() if operator in ("~", "!~") else column.expr.type
        return bindparam(slot.bind, value, type_=kind)


def runtime_values(slots: tuple[Slot, ...], values: Mapping[str, Any]) -> dict[str, Any]:
    """The bound parameters' values for this request; ParameterError names a bad one."""
    bound = {}
    for slot in slots:
        try:
            bound[slot.bind] = slot.value(values[slot.param])
        except ExpressionError as exc:
            raise ParameterError(slot.param, exc.message) from None
    return bound


def like_pattern(value: str) -> str:
    """`~` (contains, case-insensitive) as a LIKE pattern with % and _ taken literally."""
    escaped = value.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return f"%{escaped}%"


def _from_text(column: ColumnRef, raw: Any) -> Any:
    """Text from a path or query string, read as the column's type where it is not text
    (ASCII digits only: '³' and '٣' are not numbers here)."""
    if not isinstance(raw, str):
        return raw
    if not is_storable_text(raw):
        raise ExpressionError("a value may not hold NUL characters or unpaired surrogates")
    kind = column.kind
    if kind == "int":
        digits = raw[1:] if raw[:1] in "+-" else raw
        if not digits or not set(digits) <= _INTEGER_TEXT or len(digits) > 19:
            raise ExpressionError(f"{column.name} is a whole number, not '{raw}'")
        return int(raw)
    if kind in ("float", "decimal"):
        if not raw.isascii() or len(raw) > 100:
            raise ExpressionError(f"{column.name} is a number, not '{raw}'")
        try:
            number = Decimal(raw)
        except InvalidOperation:
            raise ExpressionError(f"{column.name} is a number, not '{raw}'") from None
        if not number.is_finite():
            raise ExpressionError(f"{column.name} is a number, not '{raw}'")
        return number
    if kind == "bool":
        if raw not in ("true", "false"):
            raise ExpressionError(f"{column.name} is true or false, not '{raw}'")
        return raw == "true"
    return raw
