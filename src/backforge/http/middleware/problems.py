"""Problem responses sent straight from ASGI middleware (no Starlette request involved)."""

from __future__ import annotations

from typing import Any

from ..problems import problem_response


async def send_problem(
    send,
    status: int,
    slug: str,
    detail: str,
    *,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> None:
    if title is not None:
        extra["title"] = title
    response = problem_response(status, slug, detail, headers, **extra)
    await send({"type": "http.response.start", "status": status, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})
