"""SARIF 2.1.0, as code-scanning services (GitHub, GitLab, Azure DevOps) read it."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from ..findings import Severity
from ..runner import AuditReport

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}


def _artifact(report: AuditReport) -> str:
    source = report.document
    if source.startswith(("http://", "https://")):
        return urlsplit(source).path.lstrip("/") or "openapi.json"
    return source


def render_sarif(report: AuditReport) -> str:
    rules: dict[str, dict[str, Any]] = {}
    results = []
    artifact = _artifact(report)
    for f in report.findings:
        rule = rules.setdefault(
            f.id,
            {
                "id": f.id,
                "name": "".join(part.title() for part in f.id.split("-")),
                "shortDescription": {"text": f.title},
                "fullDescription": {"text": f"{f.title} ({f.category} {f.category_name})"},
                "help": {"text": f.fix, "markdown": f.fix},
                "defaultConfiguration": {"level": LEVELS[f.severity]},
                "properties": {
                    "tags": ["security", f.category, f.check],
                    "security-severity": SECURITY_SEVERITY[f.severity],
                },
            },
        )
        if float(SECURITY_SEVERITY[f.severity]) > float(rule["properties"]["security-severity"]):
            rule["properties"]["security-severity"] = SECURITY_SEVERITY[f.severity]
        results.append(
            {
                "ruleId": f.id,
                "ruleIndex": list(rules).index(f.id),
                "level": LEVELS[f.severity],
                "message": {"text": f"{f.title}: {f.detail}"},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": f.location[0] if f.location else artifact},
                            "region": {"startLine": (f.location[1] or 1) if f.location else 1},
                        },
                        "logicalLocations": [
                            {
                                "name": f.operation,
                                "kind": "function",
                                "fullyQualifiedName": f.operation,
                            }
                        ],
                    }
                ],
                "partialFingerprints": {"backforgeFinding/v1": f.fingerprint},
                "properties": {
                    "severity": f.severity.label,
                    "owasp": f.category,
                    "operation": f.operation,
                    "evidence": [e.to_dict() for e in f.evidence[:2]],
                },
            }
        )
    document = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "backforge audit",
                        "informationUri": "https://github.com/backforge/backforge",
                        "semanticVersion": _version(),
                        "rules": list(rules.values()),
                    }
                },
                "automationDetails": {"id": f"backforge-audit/{report.target}"},
                "results": results,
                "invocations": [
                    {
                        "executionSuccessful": True,
                        "toolExecutionNotifications": [
                            {"message": {"text": note}, "level": "note"} for note in report.notes
                        ],
                    }
                ],
            }
        ],
    }
    return json.dumps(document, indent=2)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("backforge")
    except Exception:
        return "0.0.0"
