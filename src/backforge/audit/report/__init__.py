"""Audit reports: terminal table, JSON, SARIF 2.1.0 and a self-contained HTML page."""

from __future__ import annotations

from collections.abc import Callable

from ..runner import AuditReport
from .html import render_html
from .json import render_json
from .sarif import render_sarif
from .table import render_table

RENDERERS: dict[str, Callable[[AuditReport], str]] = {
    "json": render_json,
    "sarif": render_sarif,
    "html": render_html,
    "table": render_table,
}

__all__ = ["RENDERERS", "render_html", "render_json", "render_sarif", "render_table"]
