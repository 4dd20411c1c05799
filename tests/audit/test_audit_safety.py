"""`--safe` (the default): writes that would reach beyond the audit's own objects are never
sent, even with --allow-writes; `--unsafe` sends them."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backforge.audit.exclusions import is_dangerous
from backforge.audit.openapi import build_document
from backforge.audit.runner import run_audit

from .conftest import quick_options, serve

ITEM = {"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}}
NEW_ITEM = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string", "maxLength": 40}},
    "additionalProperties": False,
}


def _op(responses: str = "204", body: dict | None = None, **extra) -> dict:
    op: dict = {"responses": {responses: {"description": "done"}}, **extra}
    if body is not None:
        op["requestBody"] = {"content": {"application/json": {"schema": body}}}
    return op


DOCUMENT = {
    "openapi": "3.0.3",
    "info": {"title": "items", "version": "1"},
    "paths": {
        "/api/items": {
            "get": _op("200"),
            "post": _op("201", NEW_ITEM),
            "delete": _op(),  # every item at once
        },
        "/api/items/{id}": {
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {}}],
            "get": _op("200"),
            "delete": _op(),
        },
        "/api/admin/purge-cache": {"post": _op()},
        "/api/items/import": {"post": _op("202", NEW_ITEM, operationId="bulkImportItems")},
        "/api/reports/rebuild": {"post": _op("202", **{"x-dangerous": True})},
        "/api/cleared-items": {"get": _op("200")},
    },
}
DANGEROUS = {
    "DELETE /api/items",
    "POST /api/admin/purge-cache",
    "POST /api/items/import",
    "POST /api/reports/rebuild",
}


def test_dangerous_writes_are_told_from_ordinary_ones():
    ops = build_document(DOCUMENT, "test").operations
    assert {op.key for op in ops if is_dangerous(op)} == DANGEROUS
    # quiet: a read whose path has the word, an item delete, a create
    assert not any(
        is_dangerous(op)
        for op in ops
        if op.key in {"GET /api/cleared-items", "DELETE /api/items/{id}", "POST /api/items"}
    )


def make_app() -> tuple[Starlette, list[str]]:
    seen: list[str] = []
    items: dict[int, dict] = {}

    async def record(request: Request) -> Response:
        route = request.scope["route"].path
        seen.append(f"{request.method} {route}")
        if route == "/openapi.json":
            return JSONResponse(DOCUMENT)
        if route == "/api/items" and request.method == "POST":
            item = {"id": len(items) + 1, "name": str((await request.json()).get("name"))}
            items[item["id"]] = item
            return JSONResponse(item, 201)
        if route == "/api/items" and request.method == "GET":
            return JSONResponse(list(items.values()))
        return Response(status_code=204 if request.method != "GET" else 200)

    methods = ["GET", "POST", "DELETE"]
    paths = sorted(["/openapi.json", *DOCUMENT["paths"]], key=lambda path: "{" in path)
    return Starlette(routes=[Route(p, record, methods=methods) for p in paths]), seen


@pytest.mark.parametrize("safe", [True, False])
def test_safe_mode_never_sends_the_dangerous_writes(safe):
    app, seen = make_app()
    with serve(app) as base:
        report = run_audit(
            base,
            allow_writes=True,
            safe=safe,
            max_time=60,
            options=quick_options(fuzz_examples=2),  # generated requests reach every operation
        )
    sent_dangerous = DANGEROUS & set(seen)
    if safe:
        assert sent_dangerous == set()
        assert any("left out as dangerous writes" in note for note in report.notes)
        assert "POST /api/items" in seen and "GET /api/items" in seen  # the rest is audited
    else:
        assert sent_dangerous  # --unsafe: the auditor asked for them
