"""The ASGI application: routes of every collection, the OpenAPI document, the docs page."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute

from ..auth.components import AuthComponents
from ..graphql.endpoint import PATH, GraphQLEndpoint
from ..graphql.socket import GraphQLSocket
from ..jobs.admin_routes import job_admin_routes
from ..realtime.service import Realtime
from ..realtime.stream import RealtimeStream
from ..spec.server import Dashboard as DashboardSettings
from ..spec.server import Files as FilesSettings
from ..spec.server import GraphQL as GraphQLSettings
from ..store.caller import Caller
from ..store.records import RecordStore
from .admin_routes import admin_routes
from .auth_routes import AuthRoutes
from .batch import batch_route, serves_batch
from .callers import Callers
from .custom import Endpoints, custom_routes
from .dashboard import dashboard_routes
from .declared import declared_routes
from .docs_pages import docs_routes
from .error_shapes import ErrorFormat
from .file_routes import FileRoutes
from .middleware.context import remembered
from .oauth_routes import OAuthRoutes
from .openapi import build_openapi
from .problems import HANDLERS
from .record_router import RecordRouter
from .records import RecordRoutes


def build_app(
    store: RecordStore,
    caller_of: Callable[[Request], Caller],
    auth: AuthComponents | None = None,
    endpoints: Endpoints | None = None,
    templates_folder: Path | None = None,
    realtime: Realtime | None = None,
    graphql: GraphQLSettings | None = None,
    files: FilesSettings | None = None,
    dashboard: DashboardSettings | None = None,
    migrations_dir: Path | None = None,
) -> RecordRouter:
    callers = caller_of if isinstance(caller_of, Callers) else None
    # Found once per request, whoever asks first (rate limiter, route, access log).
    caller_of = remembered(caller_of)
    openapi = orjson.dumps(build_openapi(store.spec, endpoints))

    async def openapi_document(_request: Request) -> Response:
        return Response(openapi, media_type="application/json")

    record_routes = RecordRoutes(store, caller_of).routes()
    max_body = store.spec.settings.max_body_bytes
    routes = [
        Route("/api/openapi.json", openapi_document, methods=["GET"]),
        *docs_routes(),
        *record_routes,
        *([batch_route(store, caller_of, max_body)] if serves_batch(store.spec) else []),
        *admin_routes(store, caller_of),
        *job_admin_routes(store, caller_of),
    ]
    routes += dashboard_routes(
        store, caller_of, auth, dashboard or DashboardSettings(), migrations_dir
    )
    if store.files is not None:
        routes += FileRoutes(store, store.files, caller_of, files or FilesSettings()).routes()
    stream = None
    if realtime is not None:
        stream = RealtimeStream(store, caller_of, realtime, callers)
        routes.append(Route("/api/realtime", stream.open, methods=["GET"]))
        routes.append(WebSocketRoute("/api/realtime", stream.socket))
    if graphql is not None and graphql.enabled:
        endpoint = GraphQLEndpoint(store, caller_of, graphql)
        routes += endpoint.routes()
        if stream is not None:  # subscriptions are realtime streams
            routes.append(WebSocketRoute(PATH, GraphQLSocket(endpoint, stream).handle))
    # Declared routes and custom endpoints come first: a path they take is theirs.
    claimed = declared_routes(store, caller_of, auth)
    if endpoints is not None:
        service = auth.service if auth is not None else None
        max_body = store.spec.settings.max_body_bytes
        errors = ErrorFormat(store.spec.errors) if store.spec.errors is not None else None
        claimed += custom_routes(
            endpoints, store, caller_of, service, max_body, errors, templates_folder
        )
    routes = claimed + routes
    if auth is not None:
        routes += AuthRoutes(auth, caller_of, store.spec.settings.max_body_bytes).routes()
        if auth.oauth is not None:
            routes += OAuthRoutes(auth.oauth, store.spec.settings.max_body_bytes).routes()
    app = Starlette(routes=routes, exception_handlers=HANDLERS)
    app.state.caller_of = caller_of
    collections = {r.path.split("/")[2]: r for r in record_routes if r.path.count("/") == 2}
    records = {r.path.split("/")[2]: r for r in record_routes if r.path.count("/") == 3}
    return RecordRouter(app, collections, records, claimed)
