"""GraphQL: finds the endpoint (a documented path with "graphql" in it, or the usual ones) and
checks what a GraphQL API adds to the list — its schema open to anyone, field suggestions that
leak it when introspection is off, no depth limit on queries that nest through a cycle of types,
aliases or arrays batching many operations into one request (a login tried thousands of times
past any rate limit), mutations over GET (cross-site requests), and SQL errors raised by string
arguments. Reads only: mutations are sent without arguments a server could act on, and GET
mutations only name `__typename`."""

from __future__ import annotations

from typing import Any

from ..client import ANONYMOUS, Exchange
from ..context import AuditContext
from ..findings import Severity
from .injection import SQL_ERRORS

NAME = "graphql"
CATEGORY = "API8:2023"
PATHS = ("/graphql", "/v1/graphql", "/graphql/v1", "/query", "/gql")
PROBE = "query { __typename }"
INTROSPECTION = (
    "query { __schema { queryType { name } mutationType { name } types { name kind "
    "fields { name args { name type { kind name ofType { kind name ofType { kind name } } } } "
    "type { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }"
)
DEEP = 15  # levels a query nests through a cycle of types when no limit stops it
ALIASES = 100  # aliases of one field in one query
MAX_INJECTION_TARGETS = 6


def run(ctx: AuditContext) -> None:
    path = _endpoint(ctx)
    if path is None:
        return
    operation = f"POST {path}"
    schema = _introspect(ctx, path, operation)
    if schema is None:
        _check_suggestions(ctx, path, operation)
    else:
        _check_depth(ctx, path, operation, schema)
        _check_injection(ctx, path, operation, schema)
    _check_aliases(ctx, path, operation)
    _check_array_batching(ctx, path, operation)
    _check_get_mutation(ctx, path)


def _post(ctx: AuditContext, path: str, body: Any) -> Exchange:
    return ctx.client.send(
        "POST", path, identity=ANONYMOUS, json_body=body, check=NAME, drift=False
    )


def _data(exchange: Exchange) -> dict[str, Any] | None:
    """The `data` of a GraphQL answer, or None."""
    body = exchange.json()
    if exchange.status == 200 and isinstance(body, dict) and isinstance(body.get("data"), dict):
        return body["data"]
    return None


def _errors(exchange: Exchange) -> list[str]:
    body = exchange.json()
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return []
    return [str(e.get("message", "")) for e in errors if isinstance(e, dict)]


def _candidates(ctx: AuditContext) -> list[str]:
    """Documented GraphQL paths, then the usual ones under the API's prefix and beside its
    first path segments (/api/graphql next to /api/orders); all of them with no document."""
    operations = ctx.operations()
    documented = [op.prefix + op.path for op in operations if "graphql" in op.path.lower()]
    if not operations:
        return [*documented, *PATHS, "/api/graphql"]
    prefixes = {op.prefix for op in operations}
    segments = {
        op.prefix + "/" + op.path.split("/")[1] for op in operations if op.path.count("/") > 1
    }
    usual = [prefix + path for prefix in sorted(prefixes) for path in PATHS]
    return [*documented, *usual, *(segment + "/graphql" for segment in sorted(segments))]


def _endpoint(ctx: AuditContext) -> str | None:
    for path in dict.fromkeys(_candidates(ctx)):
        exchange = _post(ctx, path, {"query": PROBE})
        data = _data(exchange)
        if data is not None and isinstance(data.get("__typename"), str):
            ctx.note(f"GraphQL endpoint found at {path}")
            return path
    return None


def _introspect(ctx: AuditContext, path: str, operation: str) -> dict[str, Any] | None:
    exchange = _post(ctx, path, {"query": INTROSPECTION})
    data = _data(exchange)
    schema = data.get("__schema") if data else None
    if not isinstance(schema, dict) or not isinstance(schema.get("types"), list):
        return None
    ctx.report(
        id="graphql-introspection",
        title="GraphQL schema open to anonymous callers",
        severity=Severity.INFO,
        category=CATEGORY,
        operation=operation,
        check=NAME,
        detail="Introspection answers anyone: every type, field and argument, the map an "
        "attacker starts from. Fine for a public API; otherwise switch it off.",
        fix="Disable introspection in production (or for anonymous callers).",
        evidence=[exchange],
    )
    return schema


def _check_suggestions(ctx: AuditContext, path: str, operation: str) -> None:
    exchange = _post(ctx, path, {"query": "query { __typenam }"})
    messages = " ".join(_errors(exchange))
    if "did you mean" in messages.lower():
        ctx.report(
            id="graphql-field-suggestions",
            title="GraphQL suggests field names while introspection is off",
            severity=Severity.LOW,
            category=CATEGORY,
            operation=operation,
            check=NAME,
            detail="A misspelt field is answered with 'Did you mean …': the schema can be "
            "recovered name by name although introspection is disabled.",
            fix="Hide suggestions in validation errors when introspection is off.",
            evidence=[exchange],
        )


def _types(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in schema["types"] if isinstance(t, dict) and t.get("name")}


def _named(type_ref: dict[str, Any] | None) -> tuple[str | None, bool]:
    """The named type under a reference, and whether a list is on the way."""
    listed = False
    while isinstance(type_ref, dict) and type_ref.get("name") is None:
        listed = listed or type_ref.get("kind") == "LIST"
        type_ref = type_ref.get("ofType")
    return (type_ref or {}).get("name"), listed


def _required_args(field: dict[str, Any]) -> bool:
    return any(
        isinstance(arg.get("type"), dict) and arg["type"].get("kind") == "NON_NULL"
        for arg in field.get("args") or []
    )


def _check_depth(ctx: AuditContext, path: str, operation: str, schema: dict) -> None:
    """A query nesting DEEP levels through a cycle of object types, none needing arguments."""
    types = _types(schema)
    query_type = (schema.get("queryType") or {}).get("name")
    objects = {
        name: [
            (f["name"], _named(f.get("type"))[0])
            for f in t.get("fields") or []
            if not _required_args(f)
            and types.get(_named(f.get("type"))[0] or "", {}).get("kind") == "OBJECT"
            and not f["name"].startswith("__")
        ]
        for name, t in types.items()
        if t.get("kind") == "OBJECT" and not name.startswith("__")
    }
    chain = _deep_chain(objects, query_type)
    if chain is None:
        return
    query = "".join(f"{field} {{ " for field in chain) + "__typename" + " }" * len(chain)
    exchange = _post(ctx, path, {"query": "query { " + query + " }"})
    if _data(exchange) is not None and not _errors(exchange):
        ctx.report(
            id="graphql-no-depth-limit",
            title="GraphQL queries may nest without limit",
            severity=Severity.MEDIUM,
            category="API4:2023",
            operation=operation,
            check=NAME,
            detail=f"A query nesting {len(chain)} levels through a cycle of types "
            f"({' → '.join(chain[:6])}…) was answered; each level can multiply the records read.",
            fix="Limit query depth (and complexity) before executing; 10 levels is plenty.",
            evidence=[exchange],
        )


def _deep_chain(objects: dict[str, list[tuple[str, str | None]]], root: str | None):
    """Field names from the query type down DEEP levels, through a cycle of types."""
    if root not in objects:
        return None
    chain: list[str] = []
    current = root
    seen_at: dict[str, int] = {}
    while len(chain) < DEEP:
        fields = objects.get(current or "", [])
        if not fields:
            return None
        # Prefer a field leading back to a type already on the path: a cycle repeats forever.
        back = [f for f in fields if f[1] in seen_at]
        name, target = (back or fields)[0]
        seen_at.setdefault(current or "", len(chain))
        chain.append(name)
        current = target
    return chain


def _check_aliases(ctx: AuditContext, path: str, operation: str) -> None:
    query = "query { " + " ".join(f"a{n}: __typename" for n in range(ALIASES)) + " }"
    exchange = _post(ctx, path, {"query": query})
    data = _data(exchange)
    if data is not None and len(data) >= ALIASES:
        ctx.report(
            id="graphql-alias-batching",
            title="GraphQL runs any number of aliases in one request",
            severity=Severity.LOW,
            category="API4:2023",
            operation=operation,
            check=NAME,
            detail=f"{ALIASES} aliases of one field ran in one request: a login or one-time-code "
            "mutation can be tried as many times per request, past per-request rate limits.",
            fix="Limit aliases (and root fields) per query; rate-limit per operation.",
            evidence=[exchange],
        )


def _check_array_batching(ctx: AuditContext, path: str, operation: str) -> None:
    exchange = _post(ctx, path, [{"query": PROBE}] * 10)
    body = exchange.json()
    if exchange.status == 200 and isinstance(body, list) and len(body) >= 10:
        ctx.report(
            id="graphql-array-batching",
            title="GraphQL accepts batches of operations in one request",
            severity=Severity.LOW,
            category="API4:2023",
            operation=operation,
            check=NAME,
            detail="An array of 10 operations was answered with 10 results: batches multiply "
            "what one request (and one rate-limit token) may do.",
            fix="Refuse batched arrays, or limit their length and count each operation.",
            evidence=[exchange],
        )


def _check_get_mutation(ctx: AuditContext, path: str) -> None:
    exchange = ctx.client.send(
        "GET",
        path,
        identity=ANONYMOUS,
        params={"query": "mutation { __typename }"},
        headers={"Accept": "application/json"},
        check=NAME,
        drift=False,
    )
    if _data(exchange) is not None:
        ctx.report(
            id="graphql-get-mutation",
            title="GraphQL runs mutations sent by GET",
            severity=Severity.MEDIUM,
            category=CATEGORY,
            operation=f"GET {path}",
            check=NAME,
            detail="A mutation in a GET query string was executed: a link or an image on any "
            "site makes a signed-in browser run it (no CSRF protection applies to GET).",
            fix="Execute mutations only from POST with a JSON body.",
            evidence=[exchange],
        )


def _check_injection(ctx: AuditContext, path: str, operation: str, schema: dict) -> None:
    """A quote in each optional String argument of the query type's fields."""
    types = _types(schema)
    query_type = types.get((schema.get("queryType") or {}).get("name") or "")
    targets = []
    for field in (query_type or {}).get("fields") or []:
        args = field.get("args") or []
        if _required_args(field):
            continue
        for arg in args:
            if _named(arg.get("type"))[0] in ("String", "ID"):
                targets.append((field["name"], arg["name"], _named(field.get("type"))[0]))
    for field, argument, returns in targets[:MAX_INJECTION_TARGETS]:
        selection = "" if types.get(returns or "", {}).get("kind") != "OBJECT" else "{ __typename }"
        query = f'query {{ {field}({argument}: "bfaudit\'\\"") {selection} }}'
        exchange = _post(ctx, path, {"query": query})
        if SQL_ERRORS.search(exchange.text):
            ctx.report(
                id="graphql-sql-injection",
                title="SQL error from a GraphQL argument",
                severity=Severity.HIGH,
                category=CATEGORY,
                operation=f"{operation} {field}({argument})",
                check=NAME,
                detail=f"A quote in the {argument} argument of {field} made the database "
                "report a syntax error: the value is put into SQL as text.",
                fix="Bind arguments as parameters; never build SQL from them.",
                evidence=[exchange],
            )
