"""Checks of declared routes and shapes that need the whole declaration (expressions are
checked where they compile, in store.shapes and http.declared)."""

from __future__ import annotations

from collections.abc import Iterator

from .errors import Problem, did_you_mean
from .model import SYSTEM_FIELDS, Collection, Spec
from .routes import (
    ACCOUNT_OPERATIONS,
    KEYED,
    LINK_OPERATIONS,
    OPERATIONS,
    PARAMETER_NAME,
    PATH_PARAMETER,
    WITH_BODY,
    NestedShape,
    Route,
    path_parameters,
    split_route_key,
)

READ_METHODS = {"list": "GET", "get": "GET", "count": "GET", "me": "GET"}


def check_routes(spec: Spec) -> Iterator[Problem]:
    for name in spec.shapes:
        yield from _check_shape(spec, name, ("shapes", name))
    yield from _shape_cycles(spec)
    seen: dict[tuple[str, str], str] = {}
    spelled: dict[str, str] = {}  # generic path -> the path as first spelled
    for key, route in spec.routes.items():
        path = ("routes", key)
        parsed = split_route_key(key)
        if parsed is None:
            yield Problem(
                path,
                "a route is 'METHOD /path', e.g. 'GET /api/articles/{slug}' "
                "(methods: GET, POST, PUT, PATCH, DELETE)",
            )
            continue
        method, url = parsed
        template = path_parameters(url)
        signature = (method, _generic(url))
        if signature in seen:
            yield Problem(path, f"the same method and path as '{seen[signature]}'")
        seen[signature] = key
        first = spelled.setdefault(_generic(url), url)
        if first != url.rstrip("/") and first.rstrip("/") != url.rstrip("/"):
            yield Problem(path, f"name the path's parameters as the other routes of it do: {first}")
        bad = [p for p in template if not PARAMETER_NAME.match(p)]
        if bad:
            yield Problem(path, f"path parameter '{{{bad[0]}}}' is not a name (letters, digits, _)")
            continue
        if len(set(template)) != len(template):
            yield Problem(path, "a path names each parameter once")
            continue
        operations = [op for op in OPERATIONS if getattr(route, op) is not None]
        if len(operations) != 1:
            yield Problem(
                path, f"name exactly one operation ({', '.join(OPERATIONS)}), e.g. get: articles"
            )
            continue
        yield from _check_route(spec, route, method, template, path)


def _generic(url: str) -> str:
    """The path with its parameters unnamed: /a/{x} and /a/{y} are the same route."""
    return PATH_PARAMETER.sub("{}", url.rstrip("/") or "/")


def _check_route(
    spec: Spec, route: Route, method: str, template: list[str], path: tuple
) -> Iterator[Problem]:
    operation, target = route.operation
    where = (*path, operation)
    collection_name = target
    if operation in LINK_OPERATIONS:
        collection_name, _, relation = target.partition(".")
        owner = spec.collections.get(collection_name)
        if owner is None or relation not in owner.relations:
            yield Problem(
                where, f"{operation} names collection.relation, e.g. articles.favorited_by"
            )
            return
        if owner.relations[relation].via is not None:
            yield Problem(
                where,
                f"{target} goes via a field: create or delete {owner.relations[relation].to} "
                "records instead",
            )
    elif target not in spec.collections:
        yield Problem(
            where, f"unknown collection '{target}'{did_you_mean(target, spec.collections)}"
        )
        return
    collection = spec.collections[collection_name]
    if collection.link_of is not None:
        yield Problem(where, f"{collection_name} is a link table kept by backforge")
    if operation in ACCOUNT_OPERATIONS and collection.auth_options is None:
        yield Problem(where, f"{operation} needs an auth collection; {target} has no 'auth'")
    expected = READ_METHODS.get(operation)
    if expected is not None and method != expected:
        yield Problem(path, f"{operation} answers {expected} requests")
    used: set[str] = set()
    within = parent_field(spec, route, collection_name) if route.parent is not None else None
    if operation in KEYED:
        if route.key is None and route.key_param is None and "id" not in template:
            yield Problem(
                (*path, "key"),
                "name the unique field that finds the record, with a path parameter of the "
                "same name, e.g. key: slug and {slug} in the path (key_param: another name)",
            )
        else:
            where = (*path, "key")
            yield from _check_key(collection, collection_name, route.key_field, None, where, within)
            used.add(route.key_parameter)
    elif route.key is not None or route.key_param is not None:
        yield Problem((*path, "key"), f"'key' applies to {', '.join(sorted(KEYED))}")
    if route.parent is not None:
        yield from _check_parent(spec, route, collection_name, template, (*path, "parent"))
        used.add(route.parent.parameter)
    filter_text = route.filter or ""
    for name in template:
        if name not in used and f"params.{name}" not in filter_text:
            yield Problem(
                path,
                f"the path parameter {{{name}}} is used by nothing: name it in 'key', "
                f"'parent' or as params.{name} in 'filter'",
            )
    yield from _check_query(route, template, operation, path)
    if route.allow_password and operation != "update_me":
        yield Problem((*path, "allow_password"), "allow_password applies to update_me")
    if route.request is not None and operation not in WITH_BODY:
        yield Problem((*path, "request"), f"{operation} reads no request body")
    if operation != "list":
        for option in ("count", "pluck"):
            if getattr(route.response, option) is not None:
                yield Problem((*path, "response", option), f"'{option}' applies to lists")
        if route.sort is not None:
            yield Problem((*path, "sort"), "'sort' applies to lists")
    yield from _check_answer_keys(route, operation, path)
    for part, shape_name in (
        ("response", route.response.shape),
        ("request", route.request.shape if route.request else None),
    ):
        if shape_name is None:
            continue
        shape = spec.shapes.get(shape_name)
        if shape is None:
            yield Problem(
                (*path, part, "shape"),
                f"unknown shape '{shape_name}'{did_you_mean(shape_name, spec.shapes)}",
            )
        elif shape.collection != collection_name:
            yield Problem(
                (*path, part, "shape"),
                f"shape '{shape_name}' is of {shape.collection}, this route of {collection_name}",
            )


# Operations that answer no body (their success is a bare status).
BODILESS = frozenset({"delete", "logout"})


def _check_answer_keys(route: Route, operation: str, path: tuple) -> Iterator[Problem]:
    """The keys of an answer hold one value each: none is another's or inside another's."""
    if route.status == 204 and operation not in BODILESS:
        yield Problem((*path, "status"), f"a {operation} answers a body: 204 has none")
    response = route.response
    keys = {"envelope": response.envelope, "count": response.count}
    if operation == "list" and route.paging.style == "cursor":
        keys["cursor"] = response.cursor
    used = [(option, key) for option, key in keys.items() if key]
    for i, (option, key) in enumerate(used):
        for other, other_key in used[i + 1 :]:
            if (
                key == other_key
                or other_key.startswith(key + ".")
                or key.startswith(other_key + ".")
            ):
                yield Problem(
                    (*path, "response", other),
                    f"'{other}: {other_key}' and '{option}: {key}' would hold one place",
                )


def _check_key(
    collection: Collection,
    name: str,
    key: str,
    parameter: str | None,
    path: tuple,
    within: str | None = None,
    template: tuple[str, ...] = (),
) -> Iterator[Problem]:
    """`parameter`: the path parameter the key must come from (None: the key may come from
    the query or the body as well); `within`: the field pointing at the route's parent, with
    which the key may be unique together (unique: [[board, user]])."""
    field = collection.fields.get(key)
    together = within is not None and any(
        set(fields) == {within, key} for fields in collection.unique
    )
    if key != "id" and (field is None or not field.unique) and not together:
        unique = ["id", *(n for n, f in collection.fields.items() if f.unique)]
        yield Problem(
            path, f"'{key}' is not a unique field of {name} (unique: {', '.join(unique)})"
        )
    if parameter is not None and parameter not in template:
        yield Problem(path, f"the path has no {{{parameter}}} to read the key from")


def _check_parent(
    spec: Spec, route: Route, collection_name: str, template: list[str], path: tuple
) -> Iterator[Problem]:
    parent = route.parent
    assert parent is not None
    target = spec.collections.get(parent.collection)
    if target is None:
        yield Problem(
            (*path, "collection"),
            f"unknown collection '{parent.collection}'"
            f"{did_you_mean(parent.collection, spec.collections)}",
        )
        return
    yield from _check_key(
        target,
        parent.collection,
        parent.key,
        parent.parameter,
        (*path, "key"),
        None,
        tuple(template),
    )
    keyed = route.operation[0] in KEYED
    if keyed and route.key_parameter == parent.parameter:
        yield Problem(
            (*path, "key"),
            f"the parent and the record both read {{{parent.parameter}}}: give the route's key "
            "its own path parameter (key and key_param)",
        )
    if parent_field(spec, route, collection_name) is None:
        yield Problem(
            (*path, "field"),
            f"name the relation field of {collection_name} that points to {parent.collection}",
        )


def parent_field(spec: Spec, route: Route, collection_name: str) -> str | None:
    """The field of the route's collection pointing at its parent (declared or the only one)."""
    parent = route.parent
    assert parent is not None
    fields = spec.collections[collection_name].fields
    candidates = [
        n for n, f in fields.items() if f.type == "relation" and f.to == parent.collection
    ]
    if parent.field is not None:
        return parent.field if parent.field in candidates else None
    return candidates[0] if len(candidates) == 1 else None


def _check_query(
    route: Route, template: list[str], operation: str, path: tuple
) -> Iterator[Problem]:
    if route.query and operation not in ("list", "count"):
        yield Problem((*path, "query"), "query parameters narrow lists and counts")
    reserved = set(template)
    if operation == "list" and route.paging.style != "none":
        reserved |= {route.paging.limit}
        reserved |= {route.paging.offset if route.paging.style == "offset" else route.paging.cursor}
    for name in route.query:
        if not PARAMETER_NAME.match(name):
            yield Problem((*path, "query", name), "a query parameter is a lowercase name")
        elif name in reserved:
            yield Problem((*path, "query", name), f"'{name}' is already a path or paging parameter")
    if route.paging != type(route.paging)() and operation != "list":
        yield Problem((*path, "paging"), "'paging' applies to lists")


def _check_shape(spec: Spec, name: str, path: tuple) -> Iterator[Problem]:
    shape = spec.shapes[name]
    collection = spec.collections.get(shape.collection)
    if collection is None:
        yield Problem(
            (*path, "collection"),
            f"unknown collection '{shape.collection}'"
            f"{did_you_mean(shape.collection, spec.collections)}",
        )
        return
    known = [*SYSTEM_FIELDS, *collection.fields, *collection.relations]
    for output, value in shape.items():
        where = (*path, "fields", output)
        if isinstance(shape.fields, list) and value not in known:
            yield Problem(where, f"unknown field '{value}'{did_you_mean(value, known)}")
        if not isinstance(value, NestedShape):
            continue
        nested = spec.shapes.get(value.shape)
        if nested is None:
            yield Problem(
                (*where, "shape"),
                f"unknown shape '{value.shape}'{did_you_mean(value.shape, spec.shapes)}",
            )
            continue
        target = _relation_target(collection, value.of)
        if target is None:
            relations = [n for n, f in collection.fields.items() if f.type == "relation"]
            relations += list(collection.relations)
            listed = ", ".join(relations) or "none"
            yield Problem(
                (*where, "of"), f"'of' names a relation of {shape.collection} (relations: {listed})"
            )
        elif target != nested.collection:
            yield Problem(
                (*where, "shape"),
                f"{value.of} reaches {target}, but shape '{value.shape}' is of {nested.collection}",
            )


def _relation_target(collection: Collection, name: str) -> str | None:
    field = collection.fields.get(name)
    if field is not None and field.type == "relation":
        return field.to
    relation = collection.relations.get(name)
    return relation.to if relation is not None else None


def _shape_cycles(spec: Spec) -> Iterator[Problem]:
    """Nested shapes may not contain themselves (the answer would never end)."""

    def reaches(start: str, current: str, seen: set[str]) -> bool:
        for _output, value in spec.shapes[current].items():
            if isinstance(value, NestedShape) and value.shape in spec.shapes:
                if value.shape == start:
                    return True
                if value.shape not in seen:
                    seen.add(value.shape)
                    if reaches(start, value.shape, seen):
                        return True
        return False

    for name in spec.shapes:
        if reaches(name, name, set()):
            yield Problem(("shapes", name), f"shape '{name}' contains itself through nested shapes")
