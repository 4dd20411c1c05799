"""A pastebin with a GraphQL API only (graphql-core on Starlette, SQLite), in the manner of the
Damn Vulnerable GraphQL Application, and its secure twin.

The flawed one: introspection for anyone, no depth limit (pastes have owners, owners pastes),
any number of aliases and batched arrays, mutations over GET, and a `filter` argument pasted
into SQL. The twin: introspection off with no suggestions, depth and alias limits, no batches,
GET for queries only, bound parameters."""

from __future__ import annotations

import sqlite3
from typing import Any

from graphql import (
    GraphQLArgument,
    GraphQLError,
    GraphQLField,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLString,
    execute,
    parse,
    validate,
)
from graphql.language import FieldNode, OperationDefinitionNode
from graphql.validation import NoSchemaIntrospectionCustomRule, specified_rules
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

MAX_DEPTH = 6
MAX_ALIASES = 10


def _database() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", check_same_thread=False)
    db.executescript(
        "CREATE TABLE owners (id INTEGER PRIMARY KEY, name TEXT);"
        "CREATE TABLE pastes (id INTEGER PRIMARY KEY, title TEXT, owner INTEGER);"
        "INSERT INTO owners VALUES (1, 'ann'), (2, 'bob');"
        "INSERT INTO pastes VALUES (1, 'hello', 1), (2, 'world', 2);"
    )
    return db


def _schema(db: sqlite3.Connection, secure: bool) -> GraphQLSchema:
    def pastes_of(owner: dict, _info: Any) -> list[dict]:
        rows = db.execute("SELECT id, title, owner FROM pastes WHERE owner = ?", (owner["id"],))
        return [{"id": r[0], "title": r[1], "owner": r[2]} for r in rows]

    def owner_of(paste: dict, _info: Any) -> dict:
        row = db.execute("SELECT id, name FROM owners WHERE id = ?", (paste["owner"],)).fetchone()
        return {"id": row[0], "name": row[1]}

    owner = GraphQLObjectType(
        "Owner",
        lambda: {
            "id": GraphQLField(GraphQLInt),
            "name": GraphQLField(GraphQLString),
            "pastes": GraphQLField(GraphQLList(paste), resolve=pastes_of),
        },
    )
    paste = GraphQLObjectType(
        "Paste",
        lambda: {
            "id": GraphQLField(GraphQLInt),
            "title": GraphQLField(GraphQLString),
            "owner": GraphQLField(owner, resolve=owner_of),
        },
    )

    def pastes(_root: Any, _info: Any, filter: str | None = None) -> list[dict]:
        if filter is None:
            rows = db.execute("SELECT id, title, owner FROM pastes")
        elif secure:
            rows = db.execute("SELECT id, title, owner FROM pastes WHERE title = ?", (filter,))
        else:
            rows = db.execute(f"SELECT id, title, owner FROM pastes WHERE title = '{filter}'")
        return [{"id": r[0], "title": r[1], "owner": r[2]} for r in rows]

    query = GraphQLObjectType(
        "Query",
        {"pastes": GraphQLField(
            GraphQLList(paste), {"filter": GraphQLArgument(GraphQLString)}, resolve=pastes
        )},
    )  # fmt: skip
    mutation = GraphQLObjectType(
        "Mutation",
        {"deletePaste": GraphQLField(
            GraphQLString, {"id": GraphQLArgument(GraphQLNonNull(GraphQLInt))},
            resolve=lambda *_a, **_k: "kept",  # the audit never names a paste
        )},
    )  # fmt: skip
    return GraphQLSchema(query, mutation)


def _depth(node: Any, depth: int = 0) -> int:
    selections = getattr(getattr(node, "selection_set", None), "selections", None) or ()
    return max((_depth(child, depth + 1) for child in selections), default=depth)


def _aliases(node: Any) -> int:
    selections = getattr(getattr(node, "selection_set", None), "selections", None) or ()
    own = sum(1 for s in selections if isinstance(s, FieldNode) and s.alias is not None)
    return own + sum(_aliases(s) for s in selections)


def make_app(secure: bool) -> Starlette:
    db = _database()
    schema = _schema(db, secure)
    rules = [*specified_rules, NoSchemaIntrospectionCustomRule] if secure else specified_rules

    def run(payload: Any, method: str) -> dict[str, Any]:
        try:
            document = parse(payload.get("query") or "")
        except GraphQLError as error:
            return {"errors": [{"message": error.message}]}
        errors = validate(schema, document, rules, hide_suggestions=secure)
        if errors:
            return {"errors": [{"message": e.message} for e in errors]}
        operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
        if secure:
            if method == "GET" and operation.operation.value != "query":
                return {"errors": [{"message": "mutations are sent with POST"}]}
            if _depth(operation) > MAX_DEPTH or _aliases(operation) > MAX_ALIASES:
                return {"errors": [{"message": "the query asks for too much"}]}
        result = execute(schema, document, variable_values=payload.get("variables"))
        answer: dict[str, Any] = {"data": result.data}
        if result.errors:  # the database's own words reach the client
            answer["errors"] = [{"message": str(e.original_error or e)} for e in result.errors]
        return answer

    async def graphql(request: Request) -> JSONResponse:
        if request.method == "GET":
            return JSONResponse(run(dict(request.query_params), "GET"))
        body = await request.json()
        if isinstance(body, list):
            if secure:
                return JSONResponse({"errors": [{"message": "no batches"}]}, 400)
            return JSONResponse([run(item, "POST") for item in body])
        return JSONResponse(run(body, "POST"))

    return Starlette(routes=[Route("/graphql", graphql, methods=["GET", "POST"])])
