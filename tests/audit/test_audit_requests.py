"""Valid requests where the schema alone is not enough: a create refused until it carries a
value the API itself answered elsewhere under the same name (a currency it does not list)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backforge.audit.auth import parse_user
from backforge.audit.runner import run_audit

from .conftest import quick_options, serve

PRICE = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "amount": {"type": "integer"},
        "currency": {"type": "string"},
    },
}
NEW_PRICE = {
    "type": "object",
    "required": ["amount", "currency"],
    "properties": {
        "amount": {"type": "integer", "minimum": 1, "maximum": 1000},
        "currency": {"type": "string", "maxLength": 3},  # which ones: the schema does not say
    },
}
DOCUMENT = {
    "openapi": "3.0.3",
    "info": {"title": "prices", "version": "1"},
    "paths": {
        "/prices": {
            "get": {
                "responses": {
                    "200": {
                        "description": "all",
                        "content": {
                            "application/json": {"schema": {"type": "array", "items": PRICE}}
                        },
                    }
                }
            },
            "post": {
                "requestBody": {"content": {"application/json": {"schema": NEW_PRICE}}},
                "responses": {"201": {"description": "made"}, "400": {"description": "no"}},
            },
        },
        "/prices/{id}": {
            "get": {
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
                ],
                "responses": {"200": {"description": "one"}, "404": {"description": "none"}},
            }
        },
    },
}


def make_app() -> tuple[Starlette, list[dict]]:
    prices = [{"id": 1, "amount": 5, "currency": "EUR"}]
    made: list[dict] = []

    async def openapi(request: Request) -> Response:
        return JSONResponse(DOCUMENT)

    async def collection(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse(prices)
        try:
            data = await request.json()
        except ValueError:
            return JSONResponse({"detail": "not JSON"}, 400)
        amount = data.get("amount") if isinstance(data, dict) else None
        if not isinstance(amount, int) or data.get("currency") not in {"EUR", "USD"}:
            return JSONResponse({"detail": "amount and a known currency"}, 400)
        price = {"id": len(prices) + 1, "amount": amount, "currency": data["currency"]}
        prices.append(price)
        made.append(price)
        return JSONResponse(price, 201)

    async def item(request: Request) -> Response:
        raw = request.path_params["id"]
        found = [p for p in prices if str(p["id"]) == raw]
        return JSONResponse(found[0]) if found else JSONResponse({"detail": "none"}, 404)

    routes = [
        Route("/openapi.json", openapi),
        Route("/prices", collection, methods=["GET", "POST"]),
        Route("/prices/{id}", item),
    ]
    return Starlette(routes=routes), made


def test_a_create_is_retried_with_values_the_api_answered():
    app, made = make_app()
    with serve(app) as base:
        report = run_audit(
            base,
            users=[parse_user("ann=bearer:token-of-ann"), parse_user("bob=bearer:token-of-bob")],
            max_time=60,
            options=quick_options(fuzz_examples=0),
        )
    assert any(price["currency"] == "EUR" for price in made), report.notes
    assert not any("could not create an object through POST /prices" in n for n in report.notes)
