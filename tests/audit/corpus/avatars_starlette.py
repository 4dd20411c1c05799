"""An avatar service in plain Starlette with the two usual upload flaws, and its secure twin.

`make_app(secure=False)` keeps what the client says an upload is (its name and Content-Type)
and serves it back inline as that type: an HTML page named .png passes for a picture, and an
.html upload runs in the API's origin when its link is opened. `make_app(secure=True)` judges
the content by its signature (PNG or JPEG only, the name agreeing) and serves it with nosniff
and a sandboxing CSP."""

from __future__ import annotations

import itertools
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

FLAWS = {"upload-content-not-checked", "upload-served-as-html"}
_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": ("image/png", (".png",)),
    b"\xff\xd8\xff": ("image/jpeg", (".jpg", ".jpeg")),
}


def openapi_document() -> dict[str, Any]:
    avatar = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "url": {"type": "string"},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "avatars", "version": "1"},
        "paths": {
            "/api/avatars": {
                "post": {
                    "operationId": "upload_avatar",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "required": ["name", "image"],
                                    "properties": {
                                        "name": {"type": "string", "maxLength": 50},
                                        "image": {
                                            "type": "string",
                                            "format": "binary",
                                            "description": "A PNG or JPEG picture",
                                        },
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "stored",
                            "content": {"application/json": {"schema": avatar}},
                        },
                        "422": {"description": "refused"},
                    },
                }
            },
            "/api/avatars/{id}": {
                "get": {
                    "operationId": "get_avatar",
                    "parameters": [
                        {
                            "name": "id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer"},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "the avatar",
                            "content": {"application/json": {"schema": avatar}},
                        },
                        "404": {"description": "none"},
                    },
                }
            },
            "/api/avatars/{id}/image": {
                "get": {
                    "operationId": "get_avatar_image",
                    "parameters": [
                        {
                            "name": "id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer"},
                        }
                    ],
                    "responses": {
                        "200": {"description": "the picture"},
                        "404": {"description": "none"},
                    },
                }
            },
        },
    }


def make_app(secure: bool) -> Starlette:
    avatars: dict[int, dict[str, Any]] = {}
    ids = itertools.count(1)

    def described(avatar_id: int) -> dict[str, Any]:
        return {
            "id": avatar_id,
            "name": avatars[avatar_id]["name"],
            "url": f"/api/avatars/{avatar_id}/image",
        }

    async def upload(request: Request) -> Response:
        form = await request.form()
        image, name = form.get("image"), form.get("name")
        if image is None or isinstance(image, str) or not isinstance(name, str) or not name:
            return JSONResponse({"error": "send name and image"}, 422)
        content = await image.read()
        media_type = image.content_type or "application/octet-stream"
        if secure:
            found = next((v for k, v in _SIGNATURES.items() if content.startswith(k)), None)
            filename = (image.filename or "").lower()
            if found is None or not filename.endswith(found[1]):
                return JSONResponse({"error": "a PNG or JPEG picture, named as such"}, 422)
            media_type = found[0]
        avatar_id = next(ids)
        avatars[avatar_id] = {"name": name, "content": content, "type": media_type}
        return JSONResponse(described(avatar_id), 201)

    async def get(request: Request) -> Response:
        avatar_id = int(request.path_params["id"])
        if avatar_id not in avatars:
            return JSONResponse({"error": "no such avatar"}, 404)
        return JSONResponse(described(avatar_id))

    async def image(request: Request) -> Response:
        avatar = avatars.get(int(request.path_params["id"]))
        if avatar is None:
            return JSONResponse({"error": "no such avatar"}, 404)
        headers = {}
        if secure:
            headers = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}
        return Response(avatar["content"], media_type=avatar["type"], headers=headers)

    async def openapi(_request: Request) -> Response:
        return JSONResponse(openapi_document())

    return Starlette(
        routes=[
            Route("/openapi.json", openapi),
            Route("/api/avatars", upload, methods=["POST"]),
            Route("/api/avatars/{id:int}", get),
            Route("/api/avatars/{id:int}/image", image),
        ]
    )
