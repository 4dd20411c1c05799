"""Each flaw planted alone: its findings appear, and nothing else than what it causes.

This proves every expected finding comes from its own flaw, not from another one planted
beside it. Generated (schemathesis) requests are off here, to keep each run under a second.
"""

from __future__ import annotations

import pytest

from backforge.audit.runner import run_audit

from .conftest import quick_options, serve
from .shop_app import FLAWS, make_app
from .test_audit_shop import EXPECTED

# flaws that only show through another one: a debug page needs a crash, and checking expiry
# needs a token signed with a key the audit knows
REQUIRES = {"debug_errors": {"server_error"}, "jwt_no_expiry": {"jwt_weak_secret"}}
# honest side effects: a 500 is an undocumented status; a field stored unvalidated comes back
# breaking the response schema; sign-up without validation accepts undeclared properties
CAUSES = {
    "debug_errors": {"undocumented-status"},
    "server_error": {"undocumented-status"},
    "sqli_error": {"undocumented-status"},
    "invalid_input_accepted": {"response-schema-mismatch"},
    "mass_assignment": {"invalid-input-accepted"},
    "mass_assignment_self": {"invalid-input-accepted"},
    "mass_assignment_total": {"invalid-input-accepted"},
    "user_enumeration_200": {"response-schema-mismatch"},
}


@pytest.mark.parametrize("flaw", sorted(FLAWS))
def test_flaw_alone_is_reported_and_causes_nothing_else(flaw):
    planted = frozenset({flaw} | REQUIRES.get(flaw, set()))
    with serve(make_app(planted)) as base:
        report = run_audit(base, max_time=60, options=quick_options(fuzz_examples=0))
    found = {(f.id, f.category, f.operation) for f in report.findings}
    expected = {e for p in planted for e in EXPECTED[p]}
    assert expected <= found, f"not reported: {sorted(expected - found)}"
    allowed = {e[0] for e in expected} | {c for p in planted for c in CAUSES.get(p, set())}
    unexpected = sorted((f.id, f.operation) for f in report.findings if f.id not in allowed)
    assert unexpected == []
