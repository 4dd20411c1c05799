from __future__ import annotations

import json

from ..runner import AuditReport


def render_json(report: AuditReport) -> str:
    return json.dumps(report.to_dict(), indent=2, default=str)
