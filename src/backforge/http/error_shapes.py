"""Failures in the shape an API contract fixes: a JSON template filled from the problem, and
a map of statuses (see spec.routes.ErrorShape)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson
from starlette.responses import Response

from ..spec.routes import ErrorShape
from .problems import PROBLEM_CONTENT_TYPE

PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
# Set in a request's scope once its route has put a failure in shape (the middleware leaves it).
SHAPED = "backforge.error_shaped"


class ErrorFormat:
    """(status, problem as a dict) -> (status, body): the signature of an `error_formatter`,
    so custom endpoints take it too."""

    def __init__(self, shape: ErrorShape):
        self.shape = shape

    def __call__(self, status: int, problem: dict[str, Any]) -> tuple[int, Any]:
        answered = self.shape.status.get(status, status)
        if self.shape.body is None:
            return answered, {**problem, "status": answered}
        values = {
            "status": answered,
            "code": str(problem.get("type", "")).rsplit(":", 1)[-1],
            "title": problem.get("title", ""),
            "detail": problem.get("detail", ""),
            "errors": problem.get("errors") or [],
            "errors_by_field": self._by_field(problem),
            "messages": _messages(problem),
        }
        return answered, render(self.shape.body, values)

    def _by_field(self, problem: dict[str, Any]) -> dict[str, list[str]]:
        grouped: dict[str, list[str]] = {}
        for error in problem.get("errors") or []:
            grouped.setdefault(field_name(error.get("path", "")), []).append(error["message"])
        field = problem.get("field") or problem.get("parameter")
        if not grouped:
            key = field if isinstance(field, str) and field else self.shape.general_field
            grouped[key] = [str(problem.get("detail", ""))]
        return grouped


def shaped(response: Response, formatter: Callable[[int, dict[str, Any]], tuple[int, Any]]):
    """A problem response in an error shape: the shape's status and body, with the problem's
    headers kept (Retry-After, Allow); a status map alone keeps it problem+json."""
    status, body = formatter(response.status_code, orjson.loads(response.body))
    problem = isinstance(formatter, ErrorFormat) and formatter.shape.body is None
    headers = {
        name: value
        for name, value in response.headers.items()
        if name not in ("content-length", "content-type")
    }
    media_type = PROBLEM_CONTENT_TYPE if problem else "application/json"
    return Response(orjson.dumps(body), status, headers=headers, media_type=media_type)


def _messages(problem: dict[str, Any]) -> list[str]:
    """Every problem as one sentence: "title must have at least 1 characters"."""
    errors = problem.get("errors") or []
    if not errors:
        return [str(problem.get("detail", ""))]
    return [f"{field_name(e.get('path', ''))} {e['message']}".strip() for e in errors]


def field_name(pointer: str) -> str:
    """The field a JSON pointer names: its last part that is not an index ("" for the body)."""
    parts = [p for p in pointer.split("/") if p and not p.isdigit()]
    return parts[-1] if parts else ""


def render(template: Any, values: dict[str, Any]) -> Any:
    """The template with {placeholders} filled; a string that is one placeholder keeps the
    value's own type (a number, a list, an object)."""
    if isinstance(template, str):
        whole = PLACEHOLDER.fullmatch(template)
        if whole and whole.group(1) in values:
            return values[whole.group(1)]
        return PLACEHOLDER.sub(
            lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), template
        )
    if isinstance(template, dict):
        return {str(render(k, values)): render(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [render(item, values) for item in template]
    return template
