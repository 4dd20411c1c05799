"""Generated requests from schemathesis (valid and invalid), sent through the audit's client."""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable
from typing import Any

from ..client import Exchange
from ..context import AuditContext
from ..openapi import Operation

SAFE_METHODS = {"GET", "HEAD", "POST"}
DROP_HEADERS = {
    "user-agent",
    "x-schemathesis-testcaseid",
    "accept-encoding",
    "connection",
    "authorization",
    "cookie",
}
_SCHEMAS: dict[str, Any] = {}
_CASES: dict[tuple[str, str, str, int], list[Any]] = {}  # generation is derandomized: reuse it


def generate_cases(raw: dict[str, Any], method: str, path: str, count: int) -> list[Any]:
    """Up to `count` positive and `count` negative cases for one operation (derandomized)."""
    digest = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()
    key = (digest, method, path, count)
    if key not in _CASES:
        _CASES[key] = _generate(digest, raw, method, path, count)
    return _CASES[key]


def _generate(digest: str, raw: dict[str, Any], method: str, path: str, count: int) -> list[Any]:
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis import GenerationMode

    schema = _SCHEMAS.get(digest)
    if schema is None:
        schema = _SCHEMAS[digest] = schemathesis.openapi.from_dict(raw)
    try:
        operation = schema[path][method.lower()]
    except (KeyError, LookupError):
        return []
    cases: list[Any] = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        strategy = operation.as_strategy(generation_mode=mode)

        @given(strategy)
        @settings(
            max_examples=count,
            database=None,
            phases=[Phase.generate],
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        )
        def collect(case: Any) -> None:
            cases.append(case)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                collect()
            except Exception:  # noqa: S112 - a schema the generator cannot handle is skipped
                continue
    return cases


def run_schemathesis(
    ctx: AuditContext,
    on_exchange: Callable[[Operation, Exchange], Any],
    check: str = "input_validation",
) -> None:
    allowed = SAFE_METHODS | ({"PUT", "PATCH", "DELETE"} if ctx.options.allow_writes else set())
    for op in ctx.operations():
        if op.method not in allowed or op is ctx.login_op or not ctx.client.has_budget(4):
            continue
        for case in generate_cases(ctx.doc.raw, op.method, op.path, ctx.options.fuzz_examples):
            kwargs = case.as_transport_kwargs(base_url=ctx.client.base_url + op.prefix)
            headers = {
                k: v
                for k, v in (kwargs.get("headers") or {}).items()
                if k.lower() not in DROP_HEADERS
            }
            content = kwargs.get("data")
            if "json" in kwargs:
                content = json.dumps(kwargs["json"]).encode()
                headers.setdefault("Content-Type", "application/json")
            if isinstance(content, dict):
                from urllib.parse import urlencode

                content = urlencode(content)
            identity = ctx.identity_for(op)
            exchange = ctx.client.send(
                op.method,
                kwargs["url"],
                identity=identity,
                operation=op.key,
                params=kwargs.get("params") or None,
                content=content,
                headers=headers,
                check=check,
            )
            on_exchange(op, exchange)
