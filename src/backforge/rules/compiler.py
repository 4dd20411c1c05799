"""Syntax tree to a SQLAlchemy boolean expression: parameterized, type-checked, constant-folded."""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import ColumnElement, and_, false, not_, or_, true
from sqlalchemy import literal as sql_literal

from .ast import (
    And,
    Call,
    Comparison,
    Constant,
    Literal,
    Membership,
    Node,
    Not,
    Operand,
    Or,
    Path,
    Value,
)
from .params import Param
from .parser import ExpressionError
from .scope import ColumnRef, Known, Resolved
from .values import NUMBER_KINDS, TEXT_KINDS, coerce

ORDERED_KINDS = TEXT_KINDS | NUMBER_KINDS | {"date", "datetime"}
_FLIPPED = {"=": "=", "!=": "!=", ">": "<", "<": ">", ">=": "<=", "<=": ">="}

# A compiled piece is either folded to a Python bool or left as SQL.
Compiled = bool | ColumnElement


class Scope(Protocol):
    def resolve(self, path: Path) -> Resolved: ...

    def call(self, node: Call, condition: Any) -> Compiled | Resolved: ...


def compile_expression(node: Node, scope: Scope) -> ColumnElement:
    """The WHERE clause for `node`; constants are folded, so a rule may become TRUE or FALSE."""
    result = _compile(node, scope)
    if isinstance(result, bool):
        return true() if result else false()
    return result


def compile_value(node: Value, scope: Scope) -> Compiled | Resolved:
    """A computed value: a field or path (ColumnRef), a known value, a count, or a condition
    (SQL, or a bool where it folds)."""
    match node:
        case Path():
            resolved = scope.resolve(node)
            if isinstance(resolved, Param):
                raise ExpressionError(
                    f"params.{resolved.name} is a request value, not one of the record",
                    node.position,
                )
            return resolved
        case Literal(value=value):
            return Known(value)
        case Call(function=function) if function != "any":
            return _call(node, scope)
    return _compile(node, scope)


def fold(node: Node, scope: Scope) -> bool | None:
    """True/False when the expression does not depend on the row, else None."""
    result = _compile(node, scope)
    return result if isinstance(result, bool) else None


def _compile(node: Node, scope: Scope) -> Compiled:
    match node:
        case Constant(value=value):
            return value
        case Not(item=item):
            inner = _compile(item, scope)
            return (not inner) if isinstance(inner, bool) else not_(inner)
        case And(items=items):
            parts = []
            for item in items:
                compiled = _compile(item, scope)
                if compiled is False:
                    return False
                if compiled is not True:
                    parts.append(compiled)
            return and_(*parts) if parts else True
        case Or(items=items):
            parts = []
            for item in items:
                compiled = _compile(item, scope)
                if compiled is True:
                    return True
                if compiled is not False:
                    parts.append(compiled)
            return or_(*parts) if parts else False
        case Comparison():
            return _comparison(node, scope)
        case Membership():
            return _membership(node, scope)
        case Call(function="any"):
            return _call(node, scope)  # type: ignore[return-value]
        case Call():
            raise ExpressionError(
                f"{node.function}(...) is a number: compare it, e.g. {node.function}(...) > 0",
                node.position,
            )
    raise ExpressionError("unsupported expression")


def _call(node: Call, scope: Scope) -> Compiled | Resolved:
    condition = node.condition

    def compiled(inner: Scope) -> Compiled:
        assert condition is not None
        return _compile(condition, inner)

    return scope.call(node, compiled)


def _operand(operand: Operand, scope: Scope) -> Resolved | Literal:
    if isinstance(operand, Path):
        return scope.resolve(operand)
    if isinstance(operand, Call):
        if operand.function == "any":
            raise ExpressionError(
                "any(...) is already true or false: use it without comparing", operand.position
            )
        result = _call(operand, scope)
        assert isinstance(result, ColumnRef | Known)
        return result
    return operand


def _comparison(node: Comparison, scope: Scope) -> Compiled:
    left = _operand(node.left, scope)
    right = _operand(node.right, scope)
    operator = node.operator
    if not isinstance(left, ColumnRef) and isinstance(right, ColumnRef):
        if operator not in _FLIPPED:
            raise ExpressionError(f"put the field on the left of '{operator}'", node.position)
        left, right, operator = right, left, _FLIPPED[operator]
    if isinstance(left, ColumnRef) and isinstance(right, ColumnRef):
        return _column_vs_column(left, operator, right, node.position)
    if isinstance(left, ColumnRef) and isinstance(right, Param):
        return _column_vs_param(left, operator, right, node.position)
    if isinstance(left, ColumnRef):
        return _column_vs_value(left, operator, right, node.position)
    if isinstance(right, Param) and not isinstance(left, Param):
        if operator not in _FLIPPED:
            raise ExpressionError(f"put params.{right.name} on the left of '{operator}'")
        left, right, operator = right, left, _FLIPPED[operator]
    if isinstance(left, Param):
        return _param_vs_value(left, operator, right, node.position)
    return _fold_values(_plain(left), operator, _plain(right))


def _param_vs_value(param: Param, operator: str, other: Any, position: int) -> Compiled:
    """`params.assignee = "me"`: the request's value against a constant, in the statement (it
    stays one statement whatever the value)."""
    value = other.value if isinstance(other, Literal | Known) else None
    if isinstance(other, Param) or value is None or isinstance(value, dict | list):
        raise ExpressionError(
            f'compare params.{param.name} with a field or a value such as "me"', position
        )
    kind = (
        "bool"
        if isinstance(value, bool)
        else "float"
        if isinstance(value, float)
        else ("int" if isinstance(value, int) else "text")
    )
    constant = ColumnRef(sql_literal(value), kind, f"params.{param.name}")
    if operator in ("~", "!~") or (operator not in ("=", "!=") and kind not in ORDERED_KINDS):
        raise ExpressionError(f"params.{param.name} is compared with = or != here", position)
    return _apply(param.bind(constant, operator), operator, constant.expr)


def _column_vs_param(column: ColumnRef, operator: str, param: Param, position: int) -> Compiled:
    if operator not in ("=", "!=", "~", "!~") and column.kind not in ORDERED_KINDS:
        raise ExpressionError(
            f"{column.name} ({column.kind}) can only be compared with = or !=", position
        )
    bound = param.bind(column, operator)
    if operator in ("~", "!~"):
        matches = column.expr.ilike(bound, escape="/")
        return matches if operator == "~" else or_(not_(matches), column.expr.is_(None))
    return _apply(column.expr, operator, bound)


def _plain(value: Known | Literal | Param) -> Any:
    return value.value


def _column_vs_column(left: ColumnRef, operator: str, right: ColumnRef, position: int) -> Compiled:
    if _family(left.kind) != _family(right.kind):
        raise ExpressionError(
            f"cannot compare {left.name} ({left.kind}) with {right.name} ({right.kind})", position
        )
    if operator in ("~", "!~"):
        raise ExpressionError("'~' compares a field with a value, not with another field", position)
    if operator not in ("=", "!=") and left.kind not in ORDERED_KINDS:
        raise ExpressionError(
            f"{left.name} ({left.kind}) can only be compared with = or !=", position
        )
    return _apply(left.expr, operator, right.expr)


def _column_vs_value(
    column: ColumnRef, operator: str, operand: Known | Literal, position: int
) -> Compiled:
    is_literal = isinstance(operand, Literal)
    where = operand.position if isinstance(operand, Literal) else position
    raw = operand.value
    if raw is None:
        if operator == "=":
            return column.expr.is_(None) if is_literal else False
        if operator == "!=":
            return column.expr.is_not(None)
        if is_literal:
            raise ExpressionError("null can only be compared with = or !=", where)
        return False
    try:
        value = coerce(column, raw, operator)
    except ExpressionError as exc:
        if is_literal:
            raise ExpressionError(exc.message, where) from None
        # A known value of the wrong type (a caller without that field, say) admits nothing.
        return False
    if operator in ("~", "!~"):
        matches = column.expr.icontains(value, autoescape=True)
        return matches if operator == "~" else or_(not_(matches), column.expr.is_(None))
    if operator not in ("=", "!=") and column.kind not in ORDERED_KINDS:
        raise ExpressionError(
            f"{column.name} ({column.kind}) can only be compared with = or !=", position
        )
    return _apply(column.expr, operator, value)


def _apply(left: Any, operator: str, right: Any) -> ColumnElement:
    match operator:
        case "=":
            return left == right
        case "!=":
            # Null-inclusive: a row whose field is empty is "not equal" to any value.
            return or_(left != right, left.is_(None))
        case ">":
            return left > right
        case ">=":
            return left >= right
        case "<":
            return left < right
        case "<=":
            return left <= right
    raise ExpressionError(f"unknown operator {operator}")


def _membership(node: Membership, scope: Scope) -> Compiled:
    operand = _operand(node.operand, scope)
    if isinstance(operand, Param):
        raise ExpressionError(f"compare params.{operand.name} with a field", operand.position)
    raws = [v.value for v in node.values]
    if not isinstance(operand, ColumnRef):
        found = _plain(operand) in raws
        return found != node.negated
    values = []
    for literal in node.values:
        if literal.value is None:
            continue
        try:
            values.append(coerce(operand, literal.value, "="))
        except ExpressionError as exc:
            raise ExpressionError(exc.message, literal.position) from None
    has_null = any(v is None for v in raws)
    column = operand.expr
    if not node.negated:
        parts = [column.in_(values)] if values else []
        if has_null:
            parts.append(column.is_(None))
        return or_(*parts) if parts else False
    parts = [column.not_in(values)] if values else []
    if not has_null:
        return or_(*parts, column.is_(None)) if parts else True
    return and_(*parts, column.is_not(None)) if parts else column.is_not(None)


def _fold_values(left: Any, operator: str, right: Any) -> bool:
    try:
        match operator:
            case "=":
                return left == right
            case "!=":
                return left != right
            case "~" | "!~":
                found = str(right).lower() in str(left).lower() if left is not None else False
                return found if operator == "~" else not found
        if left is None or right is None:
            return False
        return {">": left > right, ">=": left >= right, "<": left < right, "<=": left <= right}[
            operator
        ]
    except TypeError:
        return False


def _family(kind: str) -> str:
    if kind in TEXT_KINDS:
        return "text"
    if kind in NUMBER_KINDS:
        return "number"
    return kind
