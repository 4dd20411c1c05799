"""A first, plain pass: every read operation called once the way a client would, as user A.

It sends nothing unusual; it gives the passive checks (sensitive data, drift, error hygiene)
ordinary responses to read, including single objects whose ids it learns from list answers.
"""

from __future__ import annotations

import re
from typing import Any

from ..context import AuditContext, object_id_of
from ..openapi import Operation

NAME = "baseline"


def _ids(data: Any) -> list[str]:
    if isinstance(data, dict):
        for key in ("items", "data", "results", "records", "content"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
    if not isinstance(data, list):
        return []
    return [i for i in (object_id_of(row) for row in data[:3] if isinstance(row, dict)) if i]


def run(ctx: AuditContext) -> None:
    listed: dict[str, list[str]] = {}
    reads = ctx.operations("GET")
    for op in reads:
        if op.path_params:
            continue
        exchange = ctx.call(op, identity=ctx.identity_for(op), check=NAME)
        if 200 <= exchange.status < 300:
            listed[op.path.rstrip("/")] = _ids(exchange.json())
            if listed[op.path.rstrip("/")]:
                ctx.known_ids.setdefault(op.path.rstrip("/"), []).extend(
                    listed[op.path.rstrip("/")]
                )
    for op in reads:
        if len(op.path_params) != 1:
            continue
        collection = re.sub(r"/\{[^}/]+\}$", "", op.path)
        ids = listed.get(collection)
        if ids:
            _call_item(ctx, op, ids[0])


def _call_item(ctx: AuditContext, op: Operation, object_id: str) -> None:
    ctx.call(
        op,
        identity=ctx.identity_for(op),
        path_values={op.path_params[0].name: object_id},
        check=NAME,
    )
