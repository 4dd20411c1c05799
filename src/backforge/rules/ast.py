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
class Comparison:
    left: Path | Literal
    operator: str  # = != > >= < <= ~ !~
    right: Path | Literal
    position: int


@dataclass(frozen=True)
class Membership:
    operand: Path | Literal
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


Node = Comparison | Membership | And | Or | Not | Constant


def paths(node: Node) -> list[Path]:
    """Every field path the expression mentions, in source order."""
    match node:
        case Comparison(left=left, right=right):
            return [p for p in (left, right) if isinstance(p, Path)]
        case Membership(operand=operand):
            return [operand] if isinstance(operand, Path) else []
        case And(items=items) | Or(items=items):
            return [p for item in items for p in paths(item)]
        case Not(item=item):
            return paths(item)
    return []


def unparse(node: Node) -> str:
    """The expression as text (normalised spacing), for explanations."""
    match node:
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


def _operand_text(operand: Path | Literal) -> str:
    if isinstance(operand, Path):
        return operand.dotted
    value = operand.value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)
