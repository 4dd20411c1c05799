"""The docs pages: the API console at /docs (Swagger UI, shipped in the package: try requests
after authorizing with a token, an API key or the session) and a plain reference at
/docs/reference. Nothing is fetched from elsewhere; each page has its own strict CSP."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

_STATIC = files("backforge.http") / "static"
# Every file a page may load, by its path below /docs/, with its media type.
_ASSETS = {
    "docs.js": "text/javascript",
    "docs.css": "text/css",
    "console.js": "text/javascript",
    "console.css": "text/css",
    "swagger/swagger-ui-bundle.js": "text/javascript",
    "swagger/swagger-ui.css": "text/css",
    "graphiql.js": "text/javascript",
    "graphiql.css": "text/css",
    "graphiql/graphiql.min.js": "text/javascript",
    "graphiql/graphiql.min.css": "text/css",
    "graphiql/react.production.min.js": "text/javascript",
    "graphiql/react-dom.production.min.js": "text/javascript",
}
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
# Swagger UI sets style attributes as it renders, and submits its OAuth form to this origin.
CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data:; font-src 'self' data:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)
# GraphiQL (at /graphql) styles its editors inline and draws icons from data: URLs.
GRAPHIQL_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data:; font-src 'self' data:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)


@cache
def _read(name: str) -> bytes:
    return (_STATIC / name).read_bytes()


def docs_routes() -> list[Route]:
    async def console(_request: Request) -> Response:
        return page("console.html", CONSOLE_CSP)

    async def reference(_request: Request) -> Response:
        return page("reference.html", DOCS_CSP)

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name == "":  # /docs/: the console, relative so that a mounted app keeps its prefix
            return RedirectResponse("../docs", status_code=308)
        if name not in _ASSETS:
            raise HTTPException(404)
        return static_file(name, _ASSETS[name])

    return [
        Route("/docs", console, methods=["GET"]),
        Route("/docs/reference", reference, methods=["GET"]),
        Route("/docs/{name:path}", asset, methods=["GET"]),
    ]


def static_file(name: str, media_type: str) -> Response:
    """A file of the package's static files (read once)."""
    return Response(_read(name), media_type=media_type)


def page(name: str, policy: str) -> Response:
    """A page of the package's static files, under its content security policy."""
    return Response(
        _read(name), media_type="text/html", headers={"Content-Security-Policy": policy}
    )
