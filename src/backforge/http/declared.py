"""Declared routes (spec.routes): any method and path mapped onto the store's operations and
the account flows, answered in an existing contract's shape. A thin mapping: rules, validation,
hooks and events all happen in the store, as for the record routes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..auth.components import AuthComponents
from ..rules import ExpressionError, Node, parse
from ..rules.ast import Comparison, Path
from ..spec.errors import Problem
from ..spec.model import Spec
from ..spec.route_checks import parent_field
from ..spec.routes import (
    DEFAULT_STATUS,
    KEYED,
    WITH_BODY,
    error_shape,
    path_parameters,
    split_route_key,
)
from ..spec.routes import Route as RouteDeclaration
from ..store.caller import Caller
from ..store.errors import FieldProblem, InvalidQuery, NotFound, ValidationFailed
from ..store.listing import ListRequest
from ..store.records import Narrowing, RecordStore
from ..store.shapes import ShapePlan
from ..store.validation import validation_failed
from .auth_routes import LoginBody, RefreshBody, client_address, login_identity
from .body import etag, if_match_versions, read_json_body
from .error_shapes import SHAPED, ErrorFormat, shaped
from .offload import Offload
from .problems import ProblemError, problem_for
from .record_body import MULTIPART, RecordBody, discarded_on_failure, read_record_body
from .records import json_response

PARENT = "_parent"
RECORD = "_record"
# Fields a login body may name besides the collection's own.
LOGIN_FIELDS = tuple(LoginBody.model_fields)
ModelT = TypeVar("ModelT", bound=BaseModel)
MAX_OFFSET = 10**9


class DeclaredRoute:
    """One declared route, prepared at start-up; called per request."""

    def __init__(
        self,
        key: str,
        declaration: RouteDeclaration,
        store: RecordStore,
        caller_of: Callable[[Request], Caller],
        auth: AuthComponents | None,
        errors: ErrorFormat | None,
    ):
        spec: Spec = store.spec
        parsed = split_route_key(key)
        assert parsed is not None
        self.key = key
        self.method, self.path = parsed
        self.declaration = declaration
        self.store = store
        self.caller_of = caller_of
        self.auth = auth
        self.errors = errors
        self.operation, target = declaration.operation
        self.collection, _, self.relation = target.partition(".")
        self.max_body = spec.settings.max_body_bytes
        offload = Offload(store)
        self._run = offload.run
        self._read = offload.store
        self._write = offload.write
        response = declaration.response
        self.plan: ShapePlan | None = store.shapes.plans.get(response.shape or "")
        request = declaration.request
        if request is None:  # the request looks like the answer
            self.envelope = response.envelope if self.operation in WITH_BODY else None
            self.input_plan = self.plan
        else:
            self.envelope = request.envelope
            self.input_plan = store.shapes.plans.get(request.shape or "")
        self.status = declaration.status or DEFAULT_STATUS.get(self.operation, 200)
        self.query = {
            name: (parameter, parse(parameter.filter))
            for name, parameter in declaration.query_parameters().items()
        }
        self.conditions = self._conditions(spec)
        self.path_parameters = {*path_parameters(self.path), PARENT, RECORD}
        self.key_field = declaration.key_field
        self.key_param = declaration.key_parameter
        keyed = self.operation in KEYED
        self.key_source = declaration.key_source(self.path) if keyed else None
        if self.key_source == "query":
            self.path_parameters.discard(self.key_param)
        self.handler = getattr(self, f"_{self.operation}")
        self.location = _location_of(spec, self.collection) if self.operation == "create" else None
        # Without a declared request, a body may also use the collection's own field names.
        collection = spec.collections[self.collection]
        self.own_names = (
            frozenset({*collection.fields, *collection.relations})
            if request is None and self.input_plan is not None
            else frozenset()
        )
        self.server_set = (
            frozenset({parent_field(spec, declaration, self.collection)})
            if declaration.parent is not None
            else frozenset()
        )
        self.find_key = (key, "find")
        # The query parameters the route takes, and those that are values of `params`.
        paging = declaration.paging
        self.allowed = set(self.query)
        if self.operation == "list" and paging.style != "none":
            other = paging.offset if paging.style == "offset" else paging.cursor
            self.allowed |= {paging.limit, other}
        if self.operation == "signup":
            self.allowed.add("invite")
        self.bound = set(self.query)
        if self.key_source == "query":
            self.allowed.add(self.key_param)
            self.bound.add(self.key_param)

    def _conditions(self, spec: Spec) -> tuple[Node, ...]:
        declaration = self.declaration
        conditions: list[Node] = []
        if declaration.filter:
            conditions.append(parse(declaration.filter))
        if self.operation in KEYED:
            conditions.append(_equals(declaration.key_field, declaration.key_parameter))
        if declaration.parent is not None:
            field = parent_field(spec, declaration, self.collection)
            assert field is not None
            conditions.append(_equals(field, PARENT))
        return tuple(conditions)

    # -- serving -------------------------------------------------------------------------------

    async def serve(self, request: Request) -> Response:
        try:
            return await self._serve(request)
        except Exception as exc:  # every failure keeps the contract's error shape
            if isinstance(exc, InvalidQuery) and exc.parameter in self.path_parameters:
                exc = NotFound("no such record")  # a path value of the wrong type names nothing
            elif isinstance(exc, ValidationFailed):
                exc = self._client_paths(exc)
            response = await problem_for(request, exc)
            if self.errors is None:
                return response
            request.scope[SHAPED] = True
            return shaped(response, self.errors)

    async def _serve(self, request: Request) -> Response:
        caller = self.caller_of(request)
        if self.declaration.requires_login and caller.is_anonymous:
            raise ProblemError(401, "unauthorized", "log in first")
        params: dict[str, Any] = dict(request.path_params)
        query = self._query_values(request)
        params.update((name, value) for name, value in query.items() if name in self.bound)
        if self.declaration.parent is not None:
            params[PARENT] = await self._parent_id(caller, params)
        return await self.handler(request, caller, params, query)

    # -- record operations -----------------------------------------------------------------

    async def _list(self, request, caller, params, query) -> Response:
        paging = self.declaration.paging
        limit, offset, cursor = self._paging(query)
        asked = ListRequest(
            sort=self.declaration.sort,
            limit=limit,
            cursor=cursor,
            offset=offset if paging.style == "offset" else None,
            total=self.declaration.response.count is not None,
        )
        narrowing = self._narrowing(params, query)

        def read():
            page = self.store.list(
                self.collection, caller, asked, narrowing=narrowing, shape=self.plan
            )
            return page, self._shaped(caller, page.items, params)

        page, items = await self._read(read)
        response = self.declaration.response
        if response.pluck is not None:
            items = [item.get(response.pluck) for item in items]
        if response.envelope is None:
            return json_response(items, self.status)
        body: dict[str, Any] = {}
        place(body, response.envelope, items)
        if response.count is not None:
            place(body, response.count, page.total)
        if paging.style == "cursor":
            place(body, response.cursor, page.next_cursor)
        return json_response(body, self.status)

    async def _count(self, request, caller, params, query) -> Response:
        asked = ListRequest(limit=1, total=True)
        narrowing = self._narrowing(params, query)
        store = self.store
        page = await self._read(store.list, self.collection, caller, asked, narrowing=narrowing)
        return self._answer(page.total)

    async def _get(self, request, caller, params, query) -> Response:
        record = await self._read(self._find, caller, params, self.plan)
        if self.plan is None:  # the record as it is: its version tells it apart, as on get
            return self._answer(record, {"ETag": etag(record["version"])})
        return self._answer(record)

    async def _create(self, request, caller, params, query) -> Response:
        received = await self._uploaded(request, caller, "create")
        async with discarded_on_failure(received):
            body = await self._body(request, caller, sent=received)
            presets = None
            if self.declaration.parent is not None:
                (field,) = self.server_set
                presets = {field: params[PARENT]}
        created = await self._write(
            self.store.create,
            self.collection,
            caller,
            body,
            presets=presets,
            uploads=received.uploads if received else None,
        )
        headers = None
        if self.location is not None and created.get(self.location[2]) is not None:
            before, after, field = self.location
            headers = {"Location": before + quote(str(created[field]), safe="") + after}
        return self._answer(await self._reread(caller, created, params), headers)

    async def _update(self, request, caller, params, query) -> Response:
        received = await self._uploaded(request, caller, "update")
        async with discarded_on_failure(received):
            body = await self._body(request, caller, params=params, sent=received)
            versions = if_match_versions(request)
            found = await self._read(self._find, caller, params, None)
        updated = await self._write(
            self.store.update,
            self.collection,
            caller,
            found["id"],
            body,
            versions,
            uploads=received.uploads if received else None,
        )
        return self._answer(await self._reread(caller, updated, params))

    async def _delete(self, request, caller, params, query) -> Response:
        versions = if_match_versions(request)
        found = await self._read(self._find, caller, params, None)
        await self._write(self.store.delete, self.collection, caller, found["id"], versions)
        return Response(status_code=self.status)

    async def _link(self, request, caller, params, query, add: bool = True) -> Response:
        if caller.id is None or caller.is_anonymous:
            raise ProblemError(401, "unauthorized", "log in first")
        found = await self._read(self._find, caller, params, None)
        await self._write(
            self.store.link, self.collection, caller, found["id"], self.relation, caller.id, add
        )
        return self._answer(await self._reread(caller, found, params))

    async def _unlink(self, request, caller, params, query) -> Response:
        return await self._link(request, caller, params, query, add=False)

    # -- account operations ------------------------------------------------------------------

    def _service(self):
        if self.auth is None:
            raise ProblemError(404, "not-found", "accounts are not configured")
        return self.auth.service

    async def _signup(self, request, caller, params, query) -> Response:
        body = await self._body(request, caller, extra=("password",))
        invite = query.get("invite")
        tokens = await self._run(self._service().signup, self.collection, body, invite)
        return await self._with_tokens(tokens, params)

    async def _login(self, request, caller, params, query) -> Response:
        data = orjson.loads(await self._body(request, caller, extra=LOGIN_FIELDS))
        body = _validated(LoginBody, data)
        identity, address = login_identity(body), client_address(request)
        login = self._service().login
        tokens = await self._run(
            login, self.collection, identity, body.password, body.totp, address
        )
        return await self._with_tokens(tokens, params)

    async def _refresh(self, request, caller, params, query) -> Response:
        token = self._refresh_token(orjson.loads(await self._raw_body(request)))
        tokens = await self._run(self._service().refresh, token)
        return await self._with_tokens(tokens, params)

    async def _logout(self, request, caller, params, query) -> Response:
        token = self._refresh_token(orjson.loads(await self._raw_body(request)))
        await self._run(self._service().logout, token)
        return Response(status_code=self.status)

    async def _me(self, request, caller, params, query) -> Response:
        self._own_account(caller)
        session = {"access_token": _bearer(request, self.store.spec.settings.auth_scheme)}
        record = await self._read(self._record_by_id, caller, str(caller.id), params, session)
        return self._answer(record)

    async def _update_me(self, request, caller, params, query) -> Response:
        self._own_account(caller)
        extra = ("password",) if self.declaration.allow_password else ()
        body = orjson.loads(await self._body(request, caller, extra=extra))
        password = body.pop("password", None) if extra else None
        if password is not None and not isinstance(password, str):
            raise _AsSent([FieldProblem(f"{self._prefix}/password", "must be text")])

        def change() -> None:
            with self.store.transaction():  # the fields and the password, or neither
                self.store.update(self.collection, caller, str(caller.id), body)
                if password is not None:
                    self._service().set_password(caller, password)

        await self._run(change)
        session = {"access_token": _bearer(request, self.store.spec.settings.auth_scheme)}
        record = await self._read(self._record_by_id, caller, str(caller.id), params, session)
        return self._answer(record)

    def _own_account(self, caller: Caller) -> None:
        if caller.id is None or caller.collection != self.collection:
            raise ProblemError(401, "unauthorized", f"log in with an account of {self.collection}")

    async def _with_tokens(self, tokens, params) -> Response:
        if self.plan is None:
            return self._answer(tokens.as_json())
        account = Caller(id=tokens.account_id, collection=self.collection, method="token")
        session = {
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "expires_in": tokens.expires_in,
            "token_type": "Bearer",
        }
        record = await self._read(self._record_by_id, account, tokens.account_id, params, session)
        return self._answer(record)

    def _refresh_token(self, data: Any) -> str:
        if self.envelope is not None and isinstance(data, dict):
            data = data.get(self.envelope)
        return _validated(RefreshBody, data).refresh_token

    # -- reading records ---------------------------------------------------------------------

    def _find(self, caller: Caller, params: Mapping[str, Any], plan: ShapePlan | None) -> dict:
        """The one record the route's key names, as the caller may view it (404 otherwise)."""
        narrowing = Narrowing(self.find_key, self.conditions, params)
        found = self.store.find(self.collection, caller, narrowing, plan)
        if found is None:
            raise NotFound(f"no such record in {self.collection}")
        return self._shaped(caller, [found], params)[0] if plan else found

    def _record_by_id(
        self,
        caller: Caller,
        record_id: str,
        params: Mapping[str, Any],
        session: Mapping[str, Any] | None = None,
    ) -> dict | None:
        """A record in the response's shape, read after a write (None if the caller may not
        view it)."""
        narrowing = Narrowing((self.key, "by-id"), (_equals("id", RECORD),), {RECORD: record_id})
        found = self.store.find(self.collection, caller, narrowing, self.plan)
        if found is None or self.plan is None:
            return found
        known = {"params": params, "session": session or {}}
        return self.store.shapes.assemble(self.plan, caller, [found], known)[0]

    async def _reread(self, caller: Caller, record: dict, params: Mapping[str, Any]) -> Any:
        if self.plan is None:
            return record
        return await self._read(self._record_by_id, caller, record["id"], params)

    def _shaped(self, caller: Caller, items: list[dict], params: Mapping[str, Any]) -> list:
        if self.plan is None:
            return items
        return self.store.shapes.assemble(self.plan, caller, items, {"params": params})

    async def _parent_id(self, caller: Caller, params: Mapping[str, Any]) -> str:
        parent = self.declaration.parent
        assert parent is not None
        condition = _equals(parent.key, parent.parameter)
        narrowing = Narrowing((self.key, "parent"), (condition,), params)

        def find() -> str:
            page = self.store.list(
                parent.collection,
                caller,
                ListRequest(limit=1),
                narrowing=narrowing,
                operation="view",
            )
            if not page.items:
                raise NotFound(f"no such record in {parent.collection}")
            return page.items[0]["id"]

        return await self._read(find)

    def _narrowing(self, params: Mapping[str, Any], query: Mapping[str, Any]) -> Narrowing:
        present = tuple(name for name in self.query if name in query)
        conditions = self.conditions + tuple(self.query[name][1] for name in present)
        return Narrowing((self.key, present), conditions, params)

    # -- reading requests ----------------------------------------------------------------------

    def _query_values(self, request: Request) -> dict[str, str]:
        """The query parameters given, all of them the route's (repeated or unknown ones, or a
        required one missing, are a 400)."""
        values: dict[str, str] = {}
        pairs = request.query_params.multi_items() if request.scope["query_string"] else ()
        for name, value in pairs:
            if name not in self.allowed:
                known = ", ".join(sorted(self.allowed)) or "none"
                raise InvalidQuery(f"unknown query parameter '{name}' (known: {known})", name)
            if name in values:
                raise InvalidQuery(f"query parameter '{name}' is given twice", name)
            values[name] = value
        for name, (parameter, _node) in self.query.items():
            if parameter.required and name not in values:
                raise InvalidQuery(f"query parameter '{name}' is required", name)
        if self.key_source == "query" and self.key_param not in values:
            raise InvalidQuery(f"query parameter '{self.key_param}' is required", self.key_param)
        return values

    def _paging(self, query: Mapping[str, str]) -> tuple[int, int, str | None]:
        paging = self.declaration.paging
        settings = self.store.spec.settings
        largest = paging.max or settings.max_page_size
        default = min(paging.default or settings.page_size, largest)
        if paging.style == "none":
            return largest, 0, None
        limit = _whole(query.get(paging.limit), paging.limit, 1, largest, default)
        if paging.style == "offset":
            return limit, _whole(query.get(paging.offset), paging.offset, 0, MAX_OFFSET, 0), None
        return limit, 0, query.get(paging.cursor) or None

    async def _raw_body(self, request: Request) -> bytes:
        raw = await read_json_body(request, self.max_body)
        try:
            orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise _AsSent([FieldProblem("", "the body is not valid JSON")]) from None
        return raw

    async def _uploaded(
        self, request: Request, caller: Caller, operation: Literal["create", "update"]
    ) -> RecordBody | None:
        """A multipart body with files for a collection with file fields (None for JSON), read
        once the caller may write at all; its parts are named as the body's fields are (the
        request shape's names, when it has one: no other file part is taken)."""
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != MULTIPART or not self.store.file_fields[self.collection]:
            return None
        inputs = self.input_plan.inputs if self.input_plan is not None else None
        writer = (caller, operation)
        return await read_record_body(
            request, self.store, self.collection, self.max_body, writer, inputs
        )

    async def _body(
        self,
        request: Request,
        caller: Caller,
        extra: tuple[str, ...] = (),
        params: dict[str, Any] | None = None,
        sent: RecordBody | None = None,
    ) -> bytes:
        """The record in the body: unwrapped from its envelope, renamed to field names. A key
        read from the body goes into `params`, not into the values written. `sent`: a multipart
        body's values (never in an envelope)."""
        if sent is not None:
            data: Any = sent.body
        else:
            data = orjson.loads(await self._raw_body(request))
        prefix = ""
        if self.envelope is not None and sent is None:
            if not isinstance(data, dict):
                raise _AsSent([FieldProblem("", "the body must be a JSON object")])
            prefix = f"/{self.envelope}"
            if self.envelope not in data:
                hint = f'the record goes in "{self.envelope}": send {{"{self.envelope}": {{...}}}}'
                raise _AsSent([FieldProblem(prefix, hint)])
            unknown = [FieldProblem(f"/{k}", _UNKNOWN) for k in data if k != self.envelope]
            if unknown:
                raise _AsSent(unknown)
            data = data[self.envelope]
        if not isinstance(data, dict):
            raise _AsSent([FieldProblem(prefix, "must be a JSON object")])
        if self.key_source == "body" and params is not None:
            name = self.declaration.key_param or self._input_name(self.key_field)
            value = data.pop(name, None)
            if not isinstance(value, str | int) or isinstance(value, bool):
                raise _AsSent([FieldProblem(f"{prefix}/{name}", "this field is required")])
            params[self.key_param] = str(value)
        if self.input_plan is None:
            return orjson.dumps(data)
        inputs = self.input_plan.inputs
        renamed: dict[str, Any] = {}
        problems = []
        for name, value in data.items():
            if name in inputs:
                renamed[inputs[name]] = value
            elif name in extra or name in self.own_names:
                renamed[name] = value
            else:
                problems.append(FieldProblem(f"{prefix}/{name}", _UNKNOWN))
        if problems:  # with what else is wrong, all at once
            raise _AsSent(problems + self._other_problems(caller, renamed))
        return orjson.dumps(renamed)

    def _other_problems(self, caller: Caller, values: dict[str, Any]) -> list[FieldProblem]:
        """The problems the store finds in the values a client sent beside unknown names."""
        if self.operation not in ("create", "update", "signup", "update_me"):
            return []
        store = self.store
        validator = (store.admin_validators if caller.is_admin else store.validators)[
            self.collection
        ]
        try:
            if self.operation in ("create", "signup"):
                validator.for_create(orjson.dumps(values), self.server_set)
            else:
                validator.for_update(orjson.dumps(values))
        except ValidationFailed as failed:
            return self._client_paths(failed).problems
        return []

    @property
    def _prefix(self) -> str:
        return f"/{self.envelope}" if self.envelope is not None else ""

    def _input_name(self, field: str) -> str:
        """The name the request body gives `field`."""
        if self.input_plan is not None:
            for output, name in self.input_plan.inputs.items():
                if name == field:
                    return output
        return field

    def _client_paths(self, failed: ValidationFailed) -> ValidationFailed:
        """The store's problems at the names and place the client used (inside the envelope,
        renamed fields)."""
        if isinstance(failed, _AsSent):
            return failed
        plan = self.input_plan
        outputs = {field: output for output, field in plan.inputs.items()} if plan else {}
        prefix = f"/{self.envelope}" if self.envelope is not None else ""
        problems = []
        for problem in failed.problems:
            head, _, rest = problem.path.lstrip("/").partition("/")
            path = prefix + (f"/{outputs.get(head, head)}" if head else "")
            problems.append(FieldProblem(path + (f"/{rest}" if rest else ""), problem.message))
        return ValidationFailed(problems, failed.detail)

    def _answer(self, value: Any, headers: dict[str, str] | None = None) -> Response:
        if self.status == 204:
            return Response(status_code=204)
        envelope = self.declaration.response.envelope
        if envelope is None:
            return json_response(value, self.status, headers)
        return json_response(place({}, envelope, value), self.status, headers)


def _location_of(spec: Spec, collection: str) -> tuple[str, str, str] | None:
    """Where a created record of `collection` can be read, as the path before and after its
    key and the key's field: a declared GET by one key in the path (`/api/articles/{slug}`),
    else its record route; None when neither serves it."""
    for key, route in spec.routes.items():
        parsed = split_route_key(key)
        if parsed is None or parsed[0] != "GET" or route.parent is not None:
            continue
        operation, target = route.operation
        params = path_parameters(parsed[1])
        if operation != "get" or target != collection or params != [route.key_parameter]:
            continue
        before, _, after = parsed[1].partition("{" + route.key_parameter + "}")
        return before, after, route.key_field
    if spec.collections[collection].serves("view"):
        return f"/api/{collection}/", "", "id"
    return None


class _AsSent(ValidationFailed):
    """Problems already named as the client sent them (the body's own shape)."""


_UNKNOWN = "unknown field: it is not declared, or it is set by the server"


def place(body: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """Put `value` at `key` in the answer; a dotted key nests ("meta.total")."""
    *outer, last = key.split(".")
    inner = body
    for name in outer:
        inner = inner.setdefault(name, {})
    inner[last] = value
    return body


def _equals(field: str, param: str) -> Node:
    return Comparison(Path((field,), 0), "=", Path(("params", param), 0), 0)


def _validated(model: type[ModelT], data: Any) -> ModelT:
    """An account operation's body, checked as the account routes check theirs."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_failed(exc) from None


def _whole(text: str | None, name: str, low: int, high: int, default: int) -> int:
    """A query integer: ASCII digits only, within bounds."""
    if text is None:
        return default
    if not text.isascii() or not text.isdigit() or len(text) > 18 or not low <= int(text) <= high:
        raise InvalidQuery(f"{name} must be a whole number from {low} to {high}", name)
    return int(text)


def _bearer(request: Request, scheme: str) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    word, _, credential = header.partition(" ")
    return credential.strip() if word.lower() == scheme.lower() else None


def declared_routes(
    store: RecordStore,
    caller_of: Callable[[Request], Caller],
    auth: AuthComponents | None,
) -> list[Route]:
    """One Starlette route per declared path, dispatching on the method (so that a 405 lists
    every method the path takes)."""
    spec = store.spec
    by_path: dict[str, dict[str, DeclaredRoute]] = {}
    for key, declaration in spec.routes.items():
        shape = error_shape(spec.errors, declaration.errors)
        errors = ErrorFormat(shape) if shape is not None else None
        route = DeclaredRoute(key, declaration, store, caller_of, auth, errors)
        by_path.setdefault(route.path, {})[route.method] = route
    routes = [
        Route(path, _dispatch(methods), methods=list(methods)) for path, methods in by_path.items()
    ]
    # A literal segment wins over a parameter: /articles/feed before /articles/{slug}.
    return sorted(routes, key=lambda r: [s.startswith("{") for s in r.path.split("/")])


def _dispatch(methods: dict[str, DeclaredRoute]):
    if len(methods) == 1 and "GET" not in methods:
        return next(iter(methods.values())).serve

    async def endpoint(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await methods[method].serve(request)

    return endpoint


def check_declared(store: RecordStore) -> list[Problem]:
    """Every filter of every declared route parses and names what exists (at start-up)."""
    from ..rules import RecordScope, compile_expression
    from ..rules.params import Parameters
    from ..store.access import caller_placeholders
    from ..store.caller import ANONYMOUS

    problems = store.shapes.check(ANONYMOUS)
    spec = store.spec
    for key, declaration in spec.routes.items():
        collection = declaration.operation[1].partition(".")[0]
        texts = [(("filter",), declaration.filter)]
        texts += [
            (("query", name), parameter.filter)
            for name, parameter in declaration.query_parameters().items()
        ]
        parsed = split_route_key(key)
        assert parsed is not None
        # Parameters without values: compiling only checks names and types.
        parameters = Parameters(dict.fromkeys({*path_parameters(parsed[1]), *declaration.query}))
        known = {"params": parameters, "auth": caller_placeholders(spec)}
        # Hidden fields are unknown to filters, as when the route serves requests.
        scope = RecordScope(spec, store.tables, collection, known=known, hidden=store.access.hidden)
        for where, text in texts:
            if text is None:
                continue
            try:
                compile_expression(parse(text), scope)
            except ExpressionError as exc:
                problems.append(Problem(("routes", key, *where), exc.message))
    return problems


def check_routes_of(spec: Spec) -> list[Problem]:
    """`check_declared` for a declaration not served (`backforge check`, drafts)."""
    from sqlalchemy import create_engine

    engine = create_engine("sqlite://")  # compiling needs a dialect, never a connection
    try:
        return check_declared(RecordStore(spec, engine))
    finally:
        engine.dispose()
