"""Direct routing for the record routes and the routes claimed before them (declared routes,
custom endpoints), in front of Starlette's router.

Starlette matches a request against every route's regular expression in turn and wraps the
endpoint in two exception layers and a request/response adapter; on the record routes, the
most frequent by far, that was a sixth of a request's cost. Here a claimed route is found by
its path when it has no parameters and by its own pattern otherwise, `/api/{collection}` and
`/api/{collection}/{id}` with one dictionary lookup, and the endpoint's failures are answered
by the same exception handlers (an unexpected one is logged with its trace and answered 500,
not raised again as Starlette's outermost layer does). Everything else (other paths, other
methods: HEAD, OPTIONS, a 405) goes on to Starlette unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from .middleware.context import route_path
from .problems import handler_for

PREFIX = "/api/"
# HEAD and OPTIONS go to Starlette, as does a method a route does not take (405).
METHODS = frozenset({"GET", "POST", "PATCH", "DELETE"})
CLAIMED_METHODS = METHODS | {"PUT"}


class RecordRouter:
    def __init__(
        self,
        fallback: Starlette,
        collection_routes: Mapping[str, Route],
        record_routes: Mapping[str, Route],
        claimed: list[Route],
    ):
        """`claimed`: routes matched before the record routes (declared routes, custom
        endpoints)."""
        self.fallback = fallback
        # The layers outside read the Starlette app's state and routes through this one.
        self.state = fallback.state
        self.router = fallback.router
        self.collections = dict(collection_routes)
        self.records = dict(record_routes)
        self.claimed = claimed
        # Claimed routes without path parameters, by method and path (one path may have a
        # route per method); the others are tried in order, as Starlette would.
        self.static: dict[tuple[str, str], Route] = {}
        self.patterns: list[Route] = []
        for route in claimed:
            if route.param_convertors:
                self.patterns.append(route)
            else:
                for method in route.methods or ():
                    self.static.setdefault((method, route.path), route)

    async def __call__(self, scope, receive, send) -> None:
        route = self._match(scope) if scope["type"] == "http" else None
        if route is None:
            await self.fallback(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await route.endpoint(request)
        except Exception as exc:
            response = await handler_for(exc)(request, exc)
        await response(scope, receive, send)

    def _match(self, scope) -> Route | None:
        path = route_path(scope)
        if self.claimed:
            route = self._claimed(scope, path)
            if route is not None:
                return route
        if not path.startswith(PREFIX):
            return None
        name, slash, record_id = path[len(PREFIX) :].partition("/")
        if not slash:
            route = self.collections.get(name)
        elif record_id and "/" not in record_id:
            route = self.records.get(name)
        else:
            return None
        method = scope["method"]
        if route is None or method not in METHODS or method not in route.methods:
            return None
        # What Starlette records: the access log and metrics read the template.
        scope["app"] = self.fallback
        scope["route"] = route
        scope["path_params"] = {"id": record_id} if slash else {}
        return route

    def _claimed(self, scope, path: str) -> Route | None:
        """The claimed route that serves this method and path (its parameters set)."""
        method = scope["method"]
        if method not in CLAIMED_METHODS:
            return None
        route = self.static.get((method, path))
        if route is not None:
            scope["app"] = self.fallback
            scope["route"] = route
            scope["path_params"] = {}
            return route
        for route in self.patterns:
            found = route.path_regex.match(path)
            if found is None or method not in route.methods:
                continue
            convertors = route.param_convertors
            scope["path_params"] = {
                name: convertors[name].convert(value) for name, value in found.groupdict().items()
            }
            scope["app"] = self.fallback
            scope["route"] = route
            return route
        return None
