"""The OpenAPI document of the shop test API; a few flaws show in it (no maximum here and there)."""

from __future__ import annotations

from typing import Any

MAX_ID = 2**31 - 1


def _schema_refs() -> dict[str, Any]:
    problem = {
        "type": "object",
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {"type": "array"},
        },
    }
    user = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "email": {"type": "string"},
            "name": {"type": "string"},
            "role": {"type": "string", "enum": ["customer", "admin"]},
        },
        "required": ["id", "email", "role"],
    }
    product = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "price": {"type": "number"},
            "stock": {"type": "integer"},
        },
        "required": ["id", "name", "price"],
    }
    order = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "customer": {"type": "integer"},
            "product": {"type": "integer"},
            "quantity": {"type": "integer"},
            "status": {"type": "string"},
            "total": {"type": "number"},
        },
        "required": ["id", "customer", "product", "quantity"],
    }
    return {"Problem": problem, "User": user, "Product": product, "Order": order}


def openapi_document(flaws: frozenset[str]) -> dict[str, Any]:
    ref = {name: {"$ref": f"#/components/schemas/{name}"} for name in _schema_refs()}

    def problem(*codes: int) -> dict[str, Any]:
        return {
            str(c): {
                "description": "problem",
                "content": {"application/problem+json": {"schema": ref["Problem"]}},
            }
            for c in codes
        }

    def ok(code: int, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            str(code): {"description": "ok", "content": {"application/json": {"schema": schema}}}
        }

    def body(schema: dict[str, Any]) -> dict[str, Any]:
        return {"required": True, "content": {"application/json": {"schema": schema}}}

    secured = [{"bearer": []}]
    credentials = {
        "type": "object",
        "properties": {
            "email": {"type": "string", "format": "email", "maxLength": 200},
            "password": {"type": "string", "minLength": 8, "maxLength": 200},
        },
        "required": ["email", "password"],
        "additionalProperties": False,
    }
    register = {
        "type": "object",
        "properties": {**credentials["properties"], "name": {"type": "string", "maxLength": 100}},
        "required": ["email", "password"],
        "additionalProperties": False,
    }
    limit = {"type": "integer", "minimum": 1, "default": 20}
    if "unbounded_limit" not in flaws:
        limit["maximum"] = 100
    quantity = {"type": "integer", "minimum": 1}
    if "huge_numbers" not in flaws:
        quantity["maximum"] = 1000
    new_product = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "price": {"type": "number", "minimum": 0, "maximum": 1000000},
            "stock": {"type": "integer", "minimum": 0, "maximum": 1000000},
        },
        "required": ["name", "price"],
        "additionalProperties": False,
    }
    new_order = {
        "type": "object",
        "properties": {
            "product": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
            "quantity": quantity,
        },
        "required": ["product", "quantity"],
        "additionalProperties": False,
    }
    order_update = {
        "type": "object",
        "properties": {"quantity": quantity},
        "additionalProperties": False,
    }
    id_param = {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    }
    paths = {
        "/auth/register": {
            "post": {
                "operationId": "register",
                "requestBody": body(register),
                "responses": {**ok(201, ref["User"]), **problem(400, 409, 422)},
            }
        },
        "/auth/login": {
            "post": {
                "operationId": "login",
                "requestBody": body(credentials),
                "responses": {
                    **ok(
                        200,
                        {
                            "type": "object",
                            "properties": {"access_token": {"type": "string"}},
                            "required": ["access_token"],
                        },
                    ),
                    **problem(400, 401, 404, 422, 429),
                },
            }
        },
        "/auth/reset-password": {
            "post": {
                "operationId": "resetPassword",
                "requestBody": body(
                    {
                        "type": "object",
                        "properties": {"email": {"type": "string", "format": "email"}},
                        "required": ["email"],
                        "additionalProperties": False,
                    }
                ),
                "responses": {"202": {"description": "accepted"}, **problem(400, 404, 422)},
            }
        },
        "/api/users/me": {
            "get": {
                "operationId": "me",
                "security": secured,
                "responses": {**ok(200, ref["User"]), **problem(401)},
            },
            "patch": {
                "operationId": "updateMe",
                "security": secured,
                "requestBody": body(
                    {
                        "type": "object",
                        "properties": {"name": {"type": "string", "maxLength": 100}},
                        "additionalProperties": False,
                    }
                ),
                "responses": {**ok(200, ref["User"]), **problem(400, 401, 422)},
            },
        },
        "/api/users/{email}/password": {
            "put": {
                "operationId": "setPassword",
                "security": secured,
                "parameters": [
                    {"name": "email", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "requestBody": body(
                    {
                        "type": "object",
                        "properties": {"password": {"type": "string", "minLength": 8}},
                        "required": ["password"],
                        "additionalProperties": False,
                    }
                ),
                "responses": {
                    "204": {"description": "changed"},
                    **problem(400, 401, 403, 404, 422),
                },
            }
        },
        "/api/legacy/profile": {
            "get": {
                "operationId": "legacyProfile",
                "security": secured,
                "responses": {**ok(200, ref["User"]), **problem(401)},
            }
        },
        "/api/stats": {
            "get": {
                "operationId": "stats",
                "security": secured,
                "responses": {
                    **ok(200, {"type": "object", "properties": {"orders": {"type": "integer"}}}),
                    **problem(401),
                },
            }
        },
        "/api/admin/users": {
            "get": {
                "operationId": "adminListUsers",
                "tags": ["admin"],
                "security": secured,
                "responses": {
                    **ok(200, {"type": "array", "items": ref["User"]}),
                    **problem(401, 403),
                },
            }
        },
        "/api/stock-check": {
            "get": {
                "operationId": "stockCheck",
                "security": [],
                "parameters": [{"name": "sku", "in": "query", "schema": {"type": "string"}}],
                "responses": {
                    **ok(200, {"type": "object", "properties": {"checked": {"type": "boolean"}}}),
                    **problem(400, 422),
                },
            }
        },
        "/api/categories": {
            "get": {
                "operationId": "listCategories",
                "security": [],
                "parameters": [{"name": "name", "in": "query", "schema": {"type": "string"}}],
                "responses": {
                    **ok(
                        200,
                        {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "id": {"type": "integer"},
                                    "name": {"type": "string"},
                                },
                            },
                        },
                    ),
                    **problem(400, 422),
                },
            }
        },
        "/api/products": {
            "get": {
                "operationId": "listProducts",
                "security": [],
                "parameters": [
                    {"name": "search", "in": "query", "schema": {"type": "string"}},
                    {"name": "filter", "in": "query", "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "schema": limit},
                ],
                "responses": {
                    **ok(
                        200,
                        {
                            "type": "object",
                            "properties": {
                                "items": {"type": "array", "items": ref["Product"]},
                                "limit": {"type": "integer"},
                            },
                        },
                    ),
                    **problem(400, 422),
                },
            },
            "post": {
                "operationId": "createProduct",
                "security": secured,
                "requestBody": body(new_product),
                "responses": {**ok(201, ref["Product"]), **problem(400, 401, 422)},
            },
        },
        "/api/products/{id}": {
            "get": {
                "operationId": "getProduct",
                "security": [],
                "parameters": [id_param],
                "responses": {**ok(200, ref["Product"]), **problem(400, 404, 422)},
            }
        },
        "/api/orders": {
            "get": {
                "operationId": "listOrders",
                "security": secured,
                "responses": {**ok(200, {"type": "array", "items": ref["Order"]}), **problem(401)},
            },
            "post": {
                "operationId": "createOrder",
                "security": secured,
                "requestBody": body(new_order),
                "responses": {**ok(201, ref["Order"]), **problem(400, 401, 404, 422)},
            },
        },
        "/api/orders/{id}": {
            "get": {
                "operationId": "getOrder",
                "security": secured,
                "parameters": [id_param],
                "responses": {**ok(200, ref["Order"]), **problem(400, 401, 404, 422)},
            },
            "patch": {
                "operationId": "updateOrder",
                "security": secured,
                "parameters": [id_param],
                "requestBody": body(order_update),
                "responses": {**ok(200, ref["Order"]), **problem(400, 401, 404, 422)},
            },
            "delete": {
                "operationId": "deleteOrder",
                "security": secured,
                "parameters": [id_param],
                "responses": {"204": {"description": "deleted"}, **problem(400, 401, 404, 422)},
            },
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "shop", "version": "1.0"},
        "paths": paths,
        "components": {
            "schemas": _schema_refs(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
