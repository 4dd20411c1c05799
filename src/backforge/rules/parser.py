"""Text to syntax tree, with limits on size and depth and errors that point at a position."""

from __future__ import annotations

import ast as python_ast
from functools import lru_cache
from pathlib import Path as FilePath

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from .ast import And, Call, Comparison, Constant, Literal, Membership, Node, Not, Or, Path, Value

MAX_LENGTH = 4096
MAX_DEPTH = 24


class ExpressionError(ValueError):
    """An expression that cannot be parsed or compiled; `position` is a 0-based offset."""

    def __init__(self, message: str, position: int | None = None):
        self.message = message
        self.position = position
        where = f" at position {position}" if position is not None else ""
        super().__init__(f"{message}{where}")


_GRAMMAR = (FilePath(__file__).parent / "grammar.lark").read_text(encoding="utf-8")
_PARSER = Lark(
    _GRAMMAR,
    parser="lalr",
    start=["start", "value"],
    propagate_positions=True,
    maybe_placeholders=False,
)
# The functions a call may name.
FUNCTIONS = frozenset({"any", "count", "sum", "avg", "min", "max"})
_TOKEN_NAMES = {
    "_OR": "'||'",
    "_AND": "'&&'",
    "OPERATOR": "an operator (= != > >= < <= ~ !~)",
    "NAME": "a field name",
    "STRING": "a quoted string",
    "NUMBER": "a number",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COMMA": "','",
    "BANG": "'!'",
    "IN": "'in'",
    "NOT_IN": "'not in'",
    "BOOLEAN": "true/false",
    "NULL": "null",
    "DOT": "'.'",
}


def parse(text: str, *, max_length: int = MAX_LENGTH, max_depth: int = MAX_DEPTH) -> Node:
    """A condition: a filter or a rule."""
    _check_text(text, max_length, max_depth)
    return _parse_cached(text, "start")


def parse_value(text: str, *, max_length: int = MAX_LENGTH) -> Value:
    """A computed value: a condition, a field or path, a count, or a literal."""
    _check_text(text, max_length, MAX_DEPTH)
    return _parse_cached(text, "value")


def _check_text(text: str, max_length: int, max_depth: int) -> None:
    if len(text) > max_length:
        raise ExpressionError(f"expression is longer than {max_length} characters", max_length)
    if not text.strip():
        raise ExpressionError("expression is empty", 0)
    _check_nesting(text, max_depth)


@lru_cache(maxsize=1024)
def _parse_cached(text: str, start: str) -> Value:
    try:
        tree = _PARSER.parse(text, start=start)
    except UnexpectedInput as exc:
        raise _syntax_error(exc, text) from None
    try:
        return _ToAst().transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, ExpressionError):
            raise exc.orig_exc from None
        raise


def _check_nesting(text: str, max_depth: int) -> None:
    """Refuse deep nesting before parsing, so no input can exhaust the stack."""
    depth, quote, escaped = 0, "", False
    for position, char in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in "(!":
            depth += 1
            if depth > max_depth:
                raise ExpressionError(
                    f"expression is nested deeper than {max_depth} levels", position
                )
        elif char == ")":
            depth = max(0, depth - 1)


def _syntax_error(exc: UnexpectedInput, text: str) -> ExpressionError:
    position = getattr(exc, "pos_in_stream", None)
    if isinstance(exc, UnexpectedEOF) or position is None:
        position = len(text)
    if isinstance(exc, UnexpectedCharacters):
        return ExpressionError(f"unexpected character {text[position]!r}", position)
    expected = sorted({_TOKEN_NAMES.get(t, t) for t in getattr(exc, "expected", ())})
    hint = f"; expected {', '.join(expected)}" if expected else ""
    if isinstance(exc, UnexpectedToken) and exc.token.type != "$END":
        return ExpressionError(f"unexpected {exc.token.value!r}{hint}", position)
    return ExpressionError(f"unexpected end of expression{hint}", len(text))


def is_storable_text(value: str) -> bool:
    """Text every database can store: no NUL characters, no unpaired UTF-16 surrogates."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _join_surrogate_pairs(value: str) -> str:
    """Join escaped surrogate pairs into one character, as JSON does; lone halves stay."""
    try:
        return value.encode("utf-16", "surrogatepass").decode("utf-16")
    except UnicodeDecodeError:
        return value


def _start(token_or_tree) -> int:
    if isinstance(token_or_tree, Token):
        return token_or_tree.start_pos
    return token_or_tree.position


@v_args(inline=True)
class _ToAst(Transformer):
    def or_(self, *items: Node) -> Node:
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_(self, *items: Node) -> Node:
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_(self, item: Node) -> Node:
        return Not(item)

    def constant(self, token: Token) -> Node:
        return Constant(token.value == "true")

    def comparison(self, left, operator: Token, right) -> Node:
        return Comparison(left, operator.value, right, operator.start_pos)

    def call(self, name: Token, path: Path, condition: Node | None = None) -> Node:
        if name.value not in FUNCTIONS:
            known = ", ".join(sorted(FUNCTIONS))
            raise ExpressionError(
                f"unknown function '{name.value}' (known: {known})", name.start_pos
            )
        return Call(name.value, path, condition, name.start_pos)

    def membership(self, operand, keyword: Token, values: tuple[Literal, ...]) -> Node:
        return Membership(operand, values, keyword.type == "NOT_IN", keyword.start_pos)

    def list(self, *values: Literal) -> tuple[Literal, ...]:
        if any(isinstance(v, Path) for v in values):
            raise ExpressionError("a list holds only literal values", _start(values[0]))
        return tuple(values)

    def path(self, *names: Token) -> Path:
        return Path(tuple(n.value for n in names), names[0].start_pos)

    def string(self, token: Token) -> Literal:
        raw = token.value
        try:
            value = python_ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            raise ExpressionError("invalid escape in string", token.start_pos) from None
        value = _join_surrogate_pairs(value)
        if not is_storable_text(value):
            raise ExpressionError(
                "a string may not hold NUL characters or unpaired surrogates", token.start_pos
            )
        return Literal(value, token.start_pos)

    def number(self, token: Token) -> Literal:
        text = token.value
        is_integer = not any(c in text for c in ".eE")
        return Literal(int(text) if is_integer else float(text), token.start_pos)

    def boolean(self, token: Token) -> Literal:
        return Literal(token.value == "true", token.start_pos)

    def null(self, token: Token) -> Literal:
        return Literal(None, token.start_pos)
