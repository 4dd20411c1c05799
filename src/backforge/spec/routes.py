"""Declared routes: any method and path mapped onto an operation of the store or of accounts,
answered in the shape an existing contract fixes (envelopes, renamed and computed fields,
paging, error bodies and statuses)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField

RECORD_OPERATIONS = ("list", "get", "create", "update", "delete", "count")
LINK_OPERATIONS = ("link", "unlink")
ACCOUNT_OPERATIONS = ("signup", "login", "me", "update_me", "refresh", "logout")
OPERATIONS = (*RECORD_OPERATIONS, *LINK_OPERATIONS, *ACCOUNT_OPERATIONS)
# Operations that read a request body.
WITH_BODY = frozenset({"create", "update", "signup", "login", "update_me", "refresh", "logout"})
# Operations that find one record by `key`.
KEYED = frozenset({"get", "update", "delete", "link", "unlink"})
# The success status of an operation unless the route says otherwise.
DEFAULT_STATUS = {"create": 201, "signup": 201, "delete": 204, "logout": 204}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
ROUTE_KEY = re.compile(r"^(GET|POST|PUT|PATCH|DELETE) (/[^\s]*)$")
PATH_PARAMETER = re.compile(r"\{([^{}]*)\}")
# A path or query parameter: the contract's own name (camelCase included).
PARAMETER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NestedShape(_Strict):
    """Related records inside a shape: `author: {shape: profile, of: author}`."""

    shape: str
    of: str


class Shape(_Strict):
    """How records of a collection look to a contract: output name -> value. A value is a
    field (`slug`), a path (`author.username`), a computed expression (`count(favorited_by)`,
    `any(favorited_by, id = auth.id)`), a known value (`session.access_token`), or nested
    records. A list of names keeps each field's own name."""

    collection: str
    fields: dict[str, str | NestedShape] | list[str]
    description: str | None = None

    def items(self) -> list[tuple[str, str | NestedShape]]:
        if isinstance(self.fields, list):
            return [(name, name) for name in self.fields]
        return list(self.fields.items())


class Paging(_Strict):
    """How a declared list is paged, and the names of its query parameters."""

    style: Literal["offset", "cursor", "none"] = "offset"
    limit: str = "limit"
    offset: str = "offset"
    cursor: str = "cursor"
    default: int | None = PydanticField(default=None, ge=1)
    max: int | None = PydanticField(default=None, ge=1)


class QueryParameter(_Strict):
    """A query parameter that narrows a list: `filter` applies when the parameter is given,
    with its value as `params.<name>` (a bound SQL parameter, never spliced into the text)."""

    filter: str
    required: bool = False
    description: str | None = None


class Parent(_Strict):
    """The record a route's path names above its own (`/articles/{slug}/comments`): found by
    `key` (404 when the caller may not view it); lists are narrowed to its records and creates
    point `field` at it."""

    collection: str
    key: str = "id"
    field: str | None = None
    # The path parameter holding the key, when its name is not the key's ({boardId} for id).
    param: str | None = None

    @property
    def parameter(self) -> str:
        return self.param or self.key


class RequestBody(_Strict):
    """Where the record is in the body, and the names it goes by."""

    shape: str | None = None
    envelope: str | None = None


class ResponseBody(_Strict):
    """How an answer is wrapped: `{envelope: record}`, a list's total under `count`, each
    record as one of its values (`pluck`), the next cursor under `cursor`. A dotted key nests:
    `envelope: data, count: meta.total` answers {"data": [...], "meta": {"total": n}}."""

    shape: str | None = None
    envelope: str | None = None
    count: str | None = None
    pluck: str | None = None
    cursor: str = "next_cursor"


class ErrorShape(_Strict):
    """Failures in a contract's shape. `body` is a JSON template whose strings may name
    {status}, {code}, {title}, {detail}, {errors} (a list of {path, message}) and
    {errors_by_field} (field -> list of messages; a failure of no field goes under
    `general_field`); a string that is exactly one placeholder keeps its value's type.
    `status` maps statuses (422: 400). No body: problem+json."""

    body: Any = None
    status: dict[int, int] = PydanticField(default_factory=dict)
    general_field: str = "body"


class Route(_Strict):
    """One declared route. Exactly one operation names its collection (or, for link and
    unlink, `collection.relation`)."""

    list: str | None = None
    get: str | None = None
    create: str | None = None
    update: str | None = None
    delete: str | None = None
    count: str | None = None
    link: str | None = None
    unlink: str | None = None
    signup: str | None = None
    login: str | None = None
    me: str | None = None
    update_me: str | None = None
    refresh: str | None = None
    logout: str | None = None
    # The unique field that finds the record, from the path parameter of the same name (or,
    # when the path has none, the body's field or the query parameter of that name).
    key: str | None = None
    # The parameter holding the key, when its name is not the field's ({boardId} for id).
    key_param: str | None = None
    parent: Parent | None = None
    # A condition every record must meet; `params.<name>` reads a path parameter.
    filter: str | None = None
    query: dict[str, QueryParameter | str] = PydanticField(default_factory=dict)
    sort: str | None = None
    paging: Paging = PydanticField(default_factory=Paging)
    request: RequestBody | None = None
    response: ResponseBody = PydanticField(default_factory=ResponseBody)
    status: int | None = PydanticField(default=None, ge=200, le=299)
    requires_login: bool = False
    # update_me: the body may set a new password without the old one (a contract such as
    # RealWorld's PUT /user); every other login of the account ends.
    allow_password: bool = False
    errors: ErrorShape | None = None
    summary: str | None = None
    description: str | None = None

    @property
    def operation(self) -> tuple[str, str]:
        """(operation, its target) of a route that passed the checks."""
        for name in OPERATIONS:
            target = getattr(self, name)
            if target is not None:
                return name, target
        raise ValueError("a route names no operation")

    @property
    def key_field(self) -> str:
        return self.key or "id"

    @property
    def key_parameter(self) -> str:
        """The name the key goes by in the path, the body or the query string."""
        return self.key_param or self.key_field

    def key_source(self, path: str) -> Literal["path", "body", "query"]:
        """Where the key of a keyed operation comes from: the path parameter of its name, else
        the body (operations that read one), else a query parameter."""
        if self.key_parameter in path_parameters(path):
            return "path"
        return "body" if self.operation[0] in WITH_BODY else "query"

    def query_parameters(self) -> dict[str, QueryParameter]:
        return {
            name: QueryParameter(filter=value) if isinstance(value, str) else value
            for name, value in self.query.items()
        }


def error_shape(app: ErrorShape | None, route: ErrorShape | None) -> ErrorShape | None:
    """A route's error shape: the declaration's, with what the route sets on top (its status
    map added to the declaration's)."""
    if route is None or app is None:
        return route or app
    updates = {name: getattr(route, name) for name in route.model_fields_set}
    if "status" in updates:
        updates["status"] = {**app.status, **route.status}
    return app.model_copy(update=updates)


def split_route_key(key: str) -> tuple[str, str] | None:
    """("GET", "/api/articles/{slug}") from "GET /api/articles/{slug}", or None."""
    match = ROUTE_KEY.match(key)
    return (match.group(1), match.group(2)) if match else None


def path_parameters(path: str) -> list[str]:
    return PATH_PARAMETER.findall(path)
