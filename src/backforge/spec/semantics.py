"""Checks that need the whole declaration: references, option/type fit, names, defaults."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation

from .errors import Problem, did_you_mean
from .file_fields import file_field_problems
from .model import IDENTIFIER, NUMBER_TYPES, SYSTEM_FIELDS, TEXT_TYPES, Collection, Field, Spec
from .relations import check_relations
from .route_checks import check_routes

# The default that presets a relation to the calling account, e.g. an order's customer.
CALLER_DEFAULT = "auth.id"
# Words the expression language or the HTTP layer reserve.
RESERVED_COLLECTIONS = frozenset(
    {"batch", "openapi.json", "auth", "admin", "health", "docs", "realtime"}
)
_OPTION_TYPES = {
    "min": NUMBER_TYPES,
    "max": NUMBER_TYPES,
    "min_length": TEXT_TYPES,
    "max_length": TEXT_TYPES,
    "pattern": TEXT_TYPES,
    "values": {"select"},
    "to": {"relation"},
    "multiple": {"file"},
    "max_files": {"file"},
    "max_size": {"file"},
    "accept": {"file"},
    "thumbs": {"file"},
}


def check_semantics(spec: Spec) -> Iterator[Problem]:
    names = list(spec.collections)
    if not names and not spec.routes and not spec.hooks:
        yield Problem(
            ("collections",), "declare at least one collection, route, or hooks with endpoints"
        )
    for name, collection in spec.collections.items():
        path = ("collections", name)
        if not IDENTIFIER.match(name):
            yield Problem(
                path,
                "a collection name is lowercase letters, digits and '_', "
                "starting with a letter (at most 63 characters)",
            )
        if name in RESERVED_COLLECTIONS:
            yield Problem(path, f"'{name}' is reserved; choose another collection name")
        yield from _check_collection(spec, name, collection, path)
    yield from check_relations(spec)
    yield from check_routes(spec)


def _check_collection(
    spec: Spec, name: str, collection: Collection, path: tuple
) -> Iterator[Problem]:
    for field_name, field in collection.fields.items():
        fpath = (*path, "fields", field_name)
        if field_name in SYSTEM_FIELDS:
            yield Problem(fpath, f"'{field_name}' is automatic on every record; remove it")
        elif not IDENTIFIER.match(field_name):
            yield Problem(
                fpath,
                "a field name is lowercase letters, digits and '_', "
                "starting with a letter (at most 63 characters)",
            )
        yield from _check_field(spec, field, fpath)
        if field.slug_from is not None:
            source = collection.fields.get(field.slug_from)
            if field.type != "text" or not field.unique:
                yield Problem((*fpath, "slug_from"), "a slug is a unique text field")
            if source is None or source.type != "text":
                yield Problem(
                    (*fpath, "slug_from"), "slug_from names a text field of the same collection"
                )
        if field.serial and (field.type != "int" or not field.unique or field.default is not None):
            yield Problem(
                (*fpath, "serial"),
                "a serial number is a unique int field the store fills "
                "(type: int, unique: true, no default)",
            )
    known = [*collection.fields, *SYSTEM_FIELDS]
    for i, index in enumerate(collection.indexes):
        if not index:
            yield Problem((*path, "indexes", i), "an index lists at least one field")
        for j, column in enumerate(index):
            if column not in known:
                yield Problem(
                    (*path, "indexes", i, j),
                    f"unknown field '{column}'{did_you_mean(column, known)}",
                )


def _check_field(spec: Spec, field: Field, path: tuple) -> Iterator[Problem]:
    for option, types in _OPTION_TYPES.items():
        if getattr(field, option) is not None and field.type not in types:
            yield Problem(
                (*path, option),
                f"'{option}' does not apply to a {field.type} field "
                f"(it applies to: {', '.join(sorted(types))})",
            )
    if field.reference != "visible" and field.type != "relation":
        yield Problem((*path, "reference"), "'reference' applies to a relation field")
    if field.type == "select" and not field.values:
        yield Problem(
            (*path, "values"), "a select field lists its values, e.g. values: [draft, published]"
        )
    if field.values is not None and len(set(field.values)) != len(field.values):
        yield Problem((*path, "values"), "select values must be distinct")
    if field.type == "relation":
        if not field.to:
            yield Problem((*path, "to"), "a relation names its target collection, e.g. to: users")
        elif field.to not in spec.collections:
            yield Problem(
                (*path, "to"),
                f"unknown collection '{field.to}'{did_you_mean(field.to, spec.collections)}",
            )
        if field.on_delete == "set null" and field.required:
            yield Problem((*path, "on_delete"), "'set null' cannot apply to a required relation")
    if field.min is not None and field.max is not None and field.min > field.max:
        yield Problem((*path, "min"), "min is greater than max")
    if (
        field.min_length is not None
        and field.max_length is not None
        and field.min_length > field.max_length
    ):
        yield Problem((*path, "min_length"), "min_length is greater than max_length")
    if field.type == "decimal" and field.decimal_places > field.max_digits:
        yield Problem((*path, "decimal_places"), "decimal_places cannot exceed max_digits")
    if field.pattern is not None:
        try:
            re.compile(field.pattern)
        except re.error as exc:
            yield Problem((*path, "pattern"), f"invalid regular expression: {exc}")
    if field.default is not None:
        problem = _default_problem(field)
        if problem:
            yield Problem((*path, "default"), problem)
    if field.unique and field.type == "json":
        yield Problem((*path, "unique"), "a json field cannot be unique")
    if field.type == "file":
        yield from file_field_problems(field, path)
    if field.default == CALLER_DEFAULT and field.type == "relation":
        target = spec.collections.get(field.to or "")
        if target is not None and target.auth_options is None:
            yield Problem((*path, "default"), f"{CALLER_DEFAULT} needs 'to' an auth collection")


def _default_problem(field: Field) -> str | None:
    value = field.default
    if field.type == "file":
        return "a file field has no default: its files are uploaded"
    if field.type == "relation":
        if value == CALLER_DEFAULT:
            return None
        return f"a relation's only default is {CALLER_DEFAULT} (the caller)"
    if field.type == "select" and field.values and value not in field.values:
        return f"default '{value}' is not one of the values ({', '.join(field.values)})"
    if field.type in TEXT_TYPES and not isinstance(value, str):
        return f"default must be text (got {value!r})"
    if field.type == "bool" and not isinstance(value, bool):
        return "default must be true or false"
    if field.type == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        return f"default must be a whole number (got {value!r})"
    if field.type in ("float", "decimal"):
        try:
            Decimal(str(value))
        except InvalidOperation:
            return f"default must be a number (got {value!r})"
        if isinstance(value, bool):
            return "default must be a number"
    if field.type in NUMBER_TYPES and not isinstance(value, bool):
        number = Decimal(str(value))
        if field.min is not None and number < Decimal(str(field.min)):
            return "default is below min"
        if field.max is not None and number > Decimal(str(field.max)):
            return "default is above max"
    return None
