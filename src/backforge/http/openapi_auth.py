"""The auth endpoints in the OpenAPI document, with request schemas taken from the models
that validate them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ..spec.model import Spec
from .auth_routes import (
    ApiKeyBody,
    CodeBody,
    EmailBody,
    LoginBody,
    PasswordChangeBody,
    RefreshBody,
    ResetBody,
    TokenBody,
    TotpOffBody,
)

SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "session": {"type": "apiKey", "in": "cookie", "name": "bf_session"},
}
_NO_CONTENT = {"204": {"description": "Done"}}
_ACCEPTED = {
    "202": {
        "description": "Accepted; the same answer whether or not the account exists",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"detail": {"type": "string"}},
                    "required": ["detail"],
                }
            }
        },
    }
}


def security_schemes(spec: Spec) -> dict[str, Any]:
    """The schemes, with the word clients send before a token (settings.auth_scheme)."""
    settings = spec.settings
    word = settings.auth_scheme
    schemes = dict(SECURITY_SCHEMES)
    schemes["session"] = {**schemes["session"], "name": settings.session_cookie}
    if word.lower() != "bearer":
        schemes["bearer"] = {
            "type": "http",
            "scheme": word,
            "description": f"Authorization: {word} <JWT>",
        }
    if settings.token_header:
        schemes["tokenHeader"] = {"type": "apiKey", "in": "header", "name": settings.token_header}
    if settings.token_cookie:
        schemes["tokenCookie"] = {"type": "apiKey", "in": "cookie", "name": settings.token_cookie}
    return schemes


def _body(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema.pop("title", None)
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def tokens_schema(ref: str) -> dict[str, Any]:
    """What sign-up, login and refresh answer: the tokens and the account (`ref`)."""
    return {
        "type": "object",
        "properties": {
            "token_type": {"type": "string", "enum": ["Bearer"]},
            "access_token": {"type": "string"},
            "expires_in": {"type": "integer"},
            "refresh_token": {"type": "string"},
            # null when the collection's view rule does not let the account see itself
            "record": {"anyOf": [{"$ref": ref}, {"type": "null"}]},
        },
        "required": ["token_type", "access_token", "expires_in", "refresh_token", "record"],
    }


def _tokens(ref: str, status: str) -> dict[str, Any]:
    return {
        status: {
            "description": "Tokens for the account",
            "content": {"application/json": {"schema": tokens_schema(ref)}},
        }
    }


def auth_paths(spec: Spec, schemas: dict[str, Any]) -> dict[str, Any]:
    from .openapi import problem_responses

    errors = problem_responses(400, 401, 408, 413, 414, 415, 422, 429, 503)
    collections = [
        n
        for n, c in spec.collections.items()
        if c.auth_options is not None and c.auth_options.routes
    ]
    if not collections:
        return {}
    paths: dict[str, Any] = {}

    def post(path: str, op_id: str, summary: str, body, responses, tag: str) -> None:
        operation = {
            "operationId": op_id,
            "summary": summary,
            "tags": [tag],
            "responses": {**responses, **errors},
        }
        if body is not None:
            operation["requestBody"] = _body(body)
        paths[path] = {"post": operation}

    for name in collections:
        ref = "#/components/schemas/" + "".join(p.capitalize() for p in name.split("_"))
        base = f"/api/auth/{name}"
        tag = f"auth: {name}"
        create = schemas[ref.rsplit("/", 1)[1] + "Create"]
        properties = dict(create["properties"])
        properties["password"] = properties["password"]["anyOf"][0]
        signup = {
            **create,
            "properties": properties,
            "required": sorted({*create.get("required", ()), "email", "password"}),
        }
        paths[f"{base}/signup"] = {
            "post": {
                "operationId": f"signup_{name}",
                "summary": f"Sign up to {name}",
                "tags": [tag],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": signup}},
                },
                "responses": {**_tokens(ref, "201"), **errors, **problem_responses(403, 409)},
            }
        }
        post(f"{base}/login", f"login_{name}", "Log in", LoginBody, _tokens(ref, "200"), tag)
        post(
            f"{base}/refresh",
            f"refresh_{name}",
            "Rotate a refresh token",
            RefreshBody,
            _tokens(ref, "200"),
            tag,
        )
        post(f"{base}/logout", f"logout_{name}", "Revoke a login", RefreshBody, _NO_CONTENT, tag)
        post(
            f"{base}/request-verification",
            f"request_verification_{name}",
            "Mail a verification link",
            EmailBody,
            _ACCEPTED,
            tag,
        )
        post(f"{base}/verify", f"verify_{name}", "Verify an address", TokenBody, _NO_CONTENT, tag)
        post(
            f"{base}/request-password-reset",
            f"request_password_reset_{name}",
            "Mail a password reset token",
            EmailBody,
            _ACCEPTED,
            tag,
        )
        post(
            f"{base}/reset-password",
            f"reset_password_{name}",
            "Choose a new password",
            ResetBody,
            _NO_CONTENT,
            tag,
        )
        post(
            f"{base}/password",
            f"change_password_{name}",
            "Change the password",
            PasswordChangeBody,
            {**_NO_CONTENT, **problem_responses(403)},
            tag,
        )
        post(
            f"{base}/totp/enable",
            f"totp_enable_{name}",
            "Confirm TOTP with a code",
            CodeBody,
            {**_NO_CONTENT, **problem_responses(403)},
            tag,
        )
        post(
            f"{base}/totp/disable",
            f"totp_disable_{name}",
            "Turn TOTP off",
            TotpOffBody,
            {**_NO_CONTENT, **problem_responses(403)},
            tag,
        )
    paths["/api/auth/me"] = {
        "get": {
            "operationId": "me",
            "summary": "The caller's account",
            "tags": ["auth"],
            "responses": {
                "200": {
                    "description": "The caller's record",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                **problem_responses(401, 414, 429, 503),
            },
        }
    }
    key = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "prefix": {"type": "string"},
            "scopes": {"type": "array", "items": {"type": "string"}},
            "created": {"type": "string"},
            "expires": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "key": {"type": "string", "description": "Shown in this answer only"},
        },
        "required": ["id", "name", "prefix", "scopes"],
    }
    paths["/api/auth/keys"] = {
        "get": {
            "operationId": "list_api_keys",
            "summary": "The caller's API keys",
            "tags": ["auth"],
            "responses": {
                "200": {
                    "description": "Keys without their secrets",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"items": {"type": "array", "items": key}},
                                "required": ["items"],
                            }
                        }
                    },
                },
                **problem_responses(401, 414, 429, 503),
            },
        },
        "post": {
            "operationId": "create_api_key",
            "summary": "Create an API key",
            "tags": ["auth"],
            "requestBody": _body(ApiKeyBody),
            "responses": {
                "201": {
                    "description": "The key, shown this once",
                    "content": {"application/json": {"schema": key}},
                },
                **errors,
                **problem_responses(403),
            },
        },
    }
    return paths
