"""The expression language shared by client filters and access rules."""

from .ast import Node
from .compiler import compile_expression, fold
from .parser import ExpressionError, parse
from .scope import ColumnRef, Known, RecordScope

__all__ = [
    "ColumnRef",
    "ExpressionError",
    "Known",
    "Node",
    "RecordScope",
    "compile_expression",
    "fold",
    "parse",
]
