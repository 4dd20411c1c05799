"""`backforge audit`: a black-box check of any running HTTP API against the senior backend
engineer's checklist and the OWASP API Security Top 10 (2023)."""

from .findings import Evidence, Finding, Severity
from .runner import AuditReport, run_audit

__all__ = ["AuditReport", "Evidence", "Finding", "Severity", "run_audit"]
