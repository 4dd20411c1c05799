"""The syntax tree of an expression. Positions are 0-based offsets into the source text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Path:
    parts: tuple[str, ...]
    position: int

    @property
    def dotted(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class Literal:
    value: Any  # str, int, float, bool or None
    position: int


@dataclass(frozen=True)
class Call:
    """`any(relation, condition)` (true or false) or `count(relation, condition)` (a number):
    over the records a to-many relation reaches; the condition reads their fields."""

    function: str
    path: Path
    condition: Node | None
    position: int


Operand = Path | Literal | Call


@dataclass(frozen=True)
class Comparison:
    left: Operand
    operator: str  # = != > >= < <= ~ !~
    right: Operand
    position: int


@dataclass(frozen=True)
class Membership:
    operand: Operand
    values: tuple[Literal, ...]
    negated: bool
    position: int


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


@dataclass(frozen=True)
class Constant:
    value: bool


Node = Comparison | Membership | And | Or | Not | Constant | Call
# What a value expression (a computed field of a shape) may be: a condition or an operand.
Value = Node | Path | Literal


def paths(node: Value) -> list[Path]:
    """Every field path the expression mentions, in source order (inside calls too)."""
    match node:
        case Path():
            return [node]
        case Call(path=path, condition=condition):
            return [path, *(paths(condition) if condition is not None else [])]
        case Comparison(left=left, right=right):
            return [*paths(left), *paths(right)]
        case Membership(operand=operand):
            return paths(operand)
        case And(items=items) | Or(items=items):
            return [p for item in items for p in paths(item)]
        case Not(item=item):
            return paths(item)
    return []


def unparse(node: Value) -> str:
    """The expression as text (normalised spacing), for explanations."""
    match node:
        case Path() | Literal():
            return _operand_text(node)
        case Call(function=function, path=path, condition=condition):
            inner = f", {unparse(condition)}" if condition is not None else ""
            return f"{function}({path.dotted}{inner})"
        case Constant(value=value):
            return "true" if value else "false"
        case Comparison(left=left, operator=operator, right=right):
            return f"{_operand_text(left)} {operator} {_operand_text(right)}"
        case Membership(operand=operand, values=values, negated=negated):
            items = ", ".join(_operand_text(v) for v in values)
            return f"{_operand_text(operand)} {'not in' if negated else 'in'} [{items}]"
        case Not(item=item):
            return f"!({unparse(item)})"
        case And(items=items):
            return " && ".join(_grouped(i, Or) for i in items)
        case Or(items=items):
            return " || ".join(unparse(i) for i in items)
    raise TypeError(node)


def _grouped(node: Node, kind: type) -> str:
    return f"({unparse(node)})" if isinstance(node, kind) else unparse(node)


def _operand_text(operand: Operand) -> str:
    if isinstance(operand, Path):
        return operand.dotted
    if isinstance(operand, Call):
        return unparse(operand)
    value = operand.value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)
