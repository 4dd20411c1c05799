"""Load a declaration from YAML (keeping positions) or a dict into a validated Spec."""

from __future__ import annotations

import io
from pathlib import Path as FilePath
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from .auth_fields import with_auth_fields
from .errors import DeclarationError, Path, Problem, did_you_mean
from .model import FIELD_TYPES, Collection, Field, Relation, Rules, Settings, Spec
from .relations import with_link_collections
from .routes import ErrorShape, Paging, Parent, RequestBody, ResponseBody, Route, Shape
from .semantics import check_semantics

Positions = dict[Path, tuple[int, int]]


def load_file(path: str | FilePath) -> Spec:
    return load_file_located(path)[0]


def load_file_located(path: str | FilePath) -> tuple[Spec, Positions]:
    """The spec and the line/column of every key, to point later findings at the file."""
    path = FilePath(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        problem = Problem((), f"cannot read file: {exc.strerror}")
        raise DeclarationError(str(path), [problem]) from None
    return load_text_located(text, filename=str(path))


def load_text(text: str, filename: str = "<declaration>") -> Spec:
    return load_text_located(text, filename)[0]


def load_text_located(text: str, filename: str = "<declaration>") -> tuple[Spec, Positions]:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        document = yaml.load(io.StringIO(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        message = f"invalid YAML: {exc.problem or exc.context}"
        raise DeclarationError(filename, [Problem((), message, line, column)]) from None
    if not isinstance(document, dict):
        raise DeclarationError(
            filename,
            [Problem((), "the declaration must be a mapping with 'name' and 'collections'")],
        )
    positions: Positions = {}
    data = _plain(document, (), positions)
    return load_dict(data, filename=filename, positions=positions), positions


def load_dict(
    data: dict[str, Any], filename: str = "<declaration>", positions: Positions | None = None
) -> Spec:
    positions = positions or {}
    try:
        spec = with_auth_fields(Spec.model_validate(data))
    except ValidationError as exc:
        problems = [_problem_from_pydantic(err) for err in exc.errors()]
        raise DeclarationError(filename, locate(problems, positions)) from None
    problems = [p for p in check_semantics(spec) if p.severity == "error"]
    if problems:
        raise DeclarationError(filename, locate(problems, positions))
    return with_link_collections(spec)


def _plain(node: Any, path: Path, positions: Positions) -> Any:
    """Turn ruamel's round-trip nodes into plain data, recording each key's line and column."""
    if isinstance(node, CommentedMap):
        result = {}
        for key, value in node.items():
            line, column = node.lc.key(key)
            positions[(*path, str(key))] = (line + 1, column + 1)
            result[str(key)] = _plain(value, (*path, str(key)), positions)
        return result
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            line, column = node.lc.item(index)
            positions[(*path, index)] = (line + 1, column + 1)
            items.append(_plain(value, (*path, index), positions))
        return items
    if isinstance(node, str):
        return str(node)
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return node


def locate(problems: list[Problem], positions: Positions) -> list[Problem]:
    """Attach the nearest known position (the path itself, else its closest ancestor)."""
    located = []
    for problem in problems:
        path = problem.path
        while path and path not in positions:
            path = path[:-1]
        line, column = positions.get(path, (None, None))
        located.append(Problem(problem.path, problem.message, line, column, problem.severity))
    return sorted(located, key=lambda p: (p.line or 0, p.column or 0))


def _options_at(path: Path) -> list[str]:
    """The valid keys of the mapping at `path`, for 'did you mean' hints."""
    if len(path) == 0:
        return list(Spec.model_fields)
    if path == ("settings",):
        return list(Settings.model_fields)
    if len(path) == 2 and path[0] == "collections":
        return list(Collection.model_fields)
    if len(path) == 3 and path[0] == "collections" and path[2] == "rules":
        return list(Rules.model_fields)
    if len(path) == 4 and path[0] == "collections" and path[2] == "fields":
        return list(Field.model_fields)
    if len(path) == 4 and path[0] == "collections" and path[2] == "relations":
        return list(Relation.model_fields)
    if len(path) == 2 and path[0] == "routes":
        return list(Route.model_fields)
    if len(path) == 3 and path[0] == "routes" and path[2] in _ROUTE_PARTS:
        return list(_ROUTE_PARTS[path[2]].model_fields)
    if len(path) == 2 and path[0] == "shapes":
        return list(Shape.model_fields)
    if path == ("errors",):
        return list(ErrorShape.model_fields)
    return []


_ROUTE_PARTS = {
    "paging": Paging,
    "request": RequestBody,
    "response": ResponseBody,
    "parent": Parent,
    "errors": ErrorShape,
}


# Names people reach for from other tools, mapped to ours.
_TYPE_SYNONYMS = {
    "money": "decimal",
    "numeric": "decimal",
    "currency": "decimal",
    "string": "text",
    "str": "text",
    "varchar": "text",
    "integer": "int",
    "number": "float",
    "double": "float",
    "boolean": "bool",
    "timestamp": "datetime",
    "time": "datetime",
    "enum": "select",
    "choice": "select",
    "foreign_key": "relation",
    "fk": "relation",
    "reference": "relation",
    "object": "json",
    "dict": "json",
    "array": "json",
}


def _type_hint(value: Any) -> str:
    synonym = _TYPE_SYNONYMS.get(str(value).lower())
    return f" — did you mean '{synonym}'?" if synonym else did_you_mean(str(value), FIELD_TYPES)


def _problem_from_pydantic(err: Any) -> Problem:
    loc: Path = tuple(
        p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))
    )
    kind = err["type"]
    value = err.get("input")
    if kind == "extra_forbidden":
        key = loc[-1]
        options = _options_at(loc[:-1])
        message = f"unknown option '{key}'{did_you_mean(str(key), options)}"
        if options:
            message += f" (valid: {', '.join(options)})"
        return Problem(loc, message)
    if kind == "literal_error" and loc and loc[-1] == "type":
        return Problem(
            loc,
            f"unknown type '{value}'{_type_hint(value)} (valid: {', '.join(FIELD_TYPES)})",
        )
    if kind == "missing":
        return Problem(loc, f"'{loc[-1]}' is required here")
    return Problem(loc, f"{err['msg']} (got {value!r})" if value is not None else err["msg"])
