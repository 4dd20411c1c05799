"""What an audit reports: findings, their severity and their OWASP API Top 10 (2023) category."""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from typing import Any


class Severity(enum.IntEnum):
    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(s.name.lower() for s in cls)
            raise ValueError(f"unknown severity {text!r} (expected one of: {names})") from None

    @property
    def label(self) -> str:
        return self.name.lower()


OWASP_API_2023 = {
    "API1:2023": "Broken Object Level Authorization",
    "API2:2023": "Broken Authentication",
    "API3:2023": "Broken Object Property Level Authorization",
    "API4:2023": "Unrestricted Resource Consumption",
    "API5:2023": "Broken Function Level Authorization",
    "API6:2023": "Unrestricted Access to Sensitive Business Flows",
    "API7:2023": "Server Side Request Forgery",
    "API8:2023": "Security Misconfiguration",
    "API9:2023": "Improper Inventory Management",
    "API10:2023": "Unsafe Consumption of APIs",
}


@dataclass
class Evidence:
    """One request and the (trimmed) response that shows the problem."""

    method: str
    url: str
    request_headers: dict[str, str] = field(default_factory=dict)
    request_body: str | None = None
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "request": {
                "method": self.method,
                "url": self.url,
                "headers": self.request_headers,
                "body": self.request_body,
            },
            "response": {
                "status": self.status,
                "headers": self.response_headers,
                "body": self.response_body,
            },
            "note": self.note,
        }


@dataclass
class Finding:
    """A problem found by one check on one operation."""

    id: str  # the rule, e.g. "jwt-alg-none-accepted"
    title: str
    severity: Severity
    category: str  # OWASP API Top 10 (2023) key, e.g. "API2:2023"
    operation: str  # "GET /api/orders/{id}" or "*" for the whole API
    check: str  # module that found it, e.g. "authentication"
    detail: str
    fix: str
    evidence: list[Evidence] = field(default_factory=list)
    location: tuple[str, int | None] | None = None  # a file and line, for static findings

    @property
    def category_name(self) -> str:
        return OWASP_API_2023.get(self.category, "")

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(f"{self.id}|{self.operation}".encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "severity": self.severity.label,
            "category": self.category,
            "category_name": self.category_name,
            "operation": self.operation,
            "check": self.check,
            "detail": self.detail,
            "fix": self.fix,
            "fingerprint": self.fingerprint,
            "evidence": [e.to_dict() for e in self.evidence],
            "location": list(self.location) if self.location else None,
        }


def sort_findings(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (-f.severity, f.category, f.id, f.operation))
