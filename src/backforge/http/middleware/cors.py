"""CORS from the declared origins (Starlette's middleware), with refusals as problems."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from ...spec.server import Cors
from ..problems import problem_response


class CorsMiddleware(CORSMiddleware):
    def __init__(self, app, settings: Cors):
        super().__init__(
            app,
            allow_origins=settings.origins,
            allow_methods=settings.methods,
            allow_headers=settings.headers,
            allow_credentials=settings.allow_credentials,
            expose_headers=settings.expose_headers,
            max_age=settings.max_age,
        )

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        # Keep the CORS headers Starlette chose (never an unlisted origin), answer a problem.
        kept = {
            k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")
        }
        detail = response.body.decode().replace("Disallowed CORS", "this preflight asks for a")
        return problem_response(400, "cors-refused", detail + " that is not allowed", kept)
