"""`backforge audit` on a real server: every planted flaw reported, the fixed app clean."""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

import pytest

from backforge.audit.checks import ALL_CHECKS
from backforge.audit.runner import run_audit

from .conftest import quick_options, serve
from .shop_app import FLAWS, make_app

# planted flaw -> the findings that must report it: (rule id, OWASP category, operation)
EXPECTED: dict[str, list[tuple[str, str, str]]] = {
    "invalid_input_accepted": [("invalid-input-accepted", "API8:2023", "POST /api/products")],
    "server_error": [
        ("server-error-on-input", "API8:2023", "GET /api/products/{id}"),
        ("server-error-on-input", "API8:2023", "POST /api/products"),
    ],
    "debug_errors": [
        ("stack-trace-leak", "API8:2023", "GET /api/products/{id}"),
        ("internal-path-leak", "API8:2023", "GET /api/products/{id}"),
    ],
    "inconsistent_errors": [("inconsistent-error-shapes", "API8:2023", "*")],
    "sensitive_data": [("sensitive-data-exposure", "API3:2023", "GET /api/users/me")],
    "anonymous_access": [("auth-not-enforced", "API2:2023", "GET /api/stats")],
    "jwt_alg_none": [("jwt-alg-none-accepted", "API2:2023", "GET /api/users/me")],
    "jwt_weak_secret": [("jwt-weak-secret", "API2:2023", "POST /auth/login")],
    "jwt_numeric_secret": [("jwt-weak-secret", "API2:2023", "POST /auth/login")],
    "jwt_no_expiry": [("jwt-expired-accepted", "API2:2023", "GET /api/users/me")],
    "jwt_no_verify": [
        ("jwt-signature-not-verified", "API2:2023", "GET /api/legacy/profile"),
        ("jwt-resigned-accepted", "API2:2023", "GET /api/legacy/profile"),
    ],
    "user_enumeration": [
        ("user-enumeration", "API2:2023", "POST /auth/login"),
        ("user-enumeration", "API2:2023", "POST /auth/reset-password"),
    ],
    "user_enumeration_200": [("user-enumeration", "API2:2023", "POST /auth/login")],
    "bola": [
        ("bola-read", "API1:2023", "GET /api/orders/{id}"),
        ("bola-change", "API1:2023", "PATCH /api/orders/{id}"),
        # bola-delete needs --allow-writes: test_allow_writes_finds_deleting_other_users_objects
    ],
    "bola_account": [("bola-account-change", "API1:2023", "PUT /api/users/{email}/password")],
    "bfla": [("bfla-privileged-operation", "API5:2023", "GET /api/admin/users")],
    "mass_assignment": [("mass-assignment", "API3:2023", "POST /auth/register")],
    "mass_assignment_self": [("mass-assignment", "API3:2023", "PATCH /api/users/me")],
    "mass_assignment_total": [("mass-assignment", "API3:2023", "POST /api/orders")],
    "sqli_error": [
        ("sql-injection", "API8:2023", "GET /api/products"),
        ("sql-error-leak", "API8:2023", "GET /api/products"),
    ],
    "sqli_boolean": [("sql-injection", "API8:2023", "GET /api/categories")],
    "sqli_time": [("sql-injection", "API8:2023", "GET /api/stock-check")],
    "unbounded_limit": [("unbounded-page-size", "API4:2023", "GET /api/products")],
    "huge_numbers": [("huge-number-accepted", "API4:2023", "POST /api/orders")],
    "no_rate_limit": [("no-rate-limit-login", "API4:2023", "POST /auth/login")],
    "cors": [("cors-any-origin-with-credentials", "API8:2023", "*")],
    "cors_loose": [("cors-lookalike-origin-with-credentials", "API8:2023", "*")],
    "missing_headers": [("security-headers-missing", "API8:2023", "*")],
    "version_banner": [("version-banner", "API8:2023", "*")],
    "debug_endpoint": [("undocumented-debug-endpoint", "API9:2023", "GET /debug")],
    "drift": [
        ("response-schema-mismatch", "API9:2023", "GET /api/products/{id}"),
        ("undocumented-status", "API9:2023", "POST /api/orders"),
    ],
}


@pytest.fixture(scope="module")
def flawed_run():
    app = make_app(FLAWS)
    with serve(app) as base:
        yield app, run_audit(base, max_requests=3000, max_time=120, options=quick_options())


@pytest.fixture(scope="module")
def flawed_report(flawed_run):
    return flawed_run[1]


@pytest.fixture(scope="module")
def fixed_report():
    with serve(make_app(frozenset())) as base:
        yield run_audit(base, max_requests=3000, max_time=120, options=quick_options())


@pytest.fixture(scope="module")
def prefixed_run():
    """The flawed app under /v1, audited without generated requests (so that every request
    sent is one of the audit's own probes)."""
    app = make_app(FLAWS, prefix="/v1")
    with serve(app, probe="/v1/openapi.json") as base:
        report = run_audit(
            base, openapi="/v1/openapi.json", max_time=120, options=quick_options(fuzz_examples=0)
        )
    return app, report


def test_every_flaw_of_the_test_app_has_an_expectation():
    assert set(EXPECTED) == set(FLAWS)


# Flaws another flaw hides when all are planted (CORS that trusts every origin covers one that
# trusts look-alikes); each is reported alone in test_audit_each_flaw.
HIDDEN_BY = {"cors_loose": "cors"}


@pytest.mark.parametrize("flaw", sorted(set(EXPECTED) - set(HIDDEN_BY)))
def test_planted_flaw_is_reported_with_category_and_operation(flaw, flawed_report):
    found = {(f.id, f.category, f.operation) for f in flawed_report.findings}
    missing = [e for e in EXPECTED[flaw] if e not in found]
    assert not missing, f"{flaw}: not reported: {missing}"


def test_findings_carry_evidence_and_a_fix(flawed_report):
    for finding in flawed_report.findings:
        assert finding.fix and finding.detail
        if finding.id != "jwt-weak-secret":  # found offline, from the token alone
            assert finding.evidence, finding.id
            assert finding.evidence[0].status is not None


def test_evidence_masks_credentials(flawed_report):
    for finding in flawed_report.findings:
        for evidence in finding.evidence:
            for name, value in evidence.request_headers.items():
                if name.lower() == "authorization" and len(value) > 40:
                    assert "…" in value


def test_fixed_app_has_no_findings(fixed_report):
    assert [(f.id, f.operation, f.detail) for f in fixed_report.findings] == []


def test_fixed_app_audit_ran_every_check_as_two_users(fixed_report):
    assert fixed_report.checks_run == [c.NAME for c in ALL_CHECKS]
    assert fixed_report.users == ["audit-user-1", "audit-user-2"]
    assert fixed_report.operations == 19


def test_api_under_a_servers_prefix_is_audited_at_that_prefix(prefixed_run):
    app, report = prefixed_run
    found = {(f.id, f.operation) for f in report.findings}
    # operations keep their document paths; requests went to /v1/...
    assert ("bola-read", "GET /api/orders/{id}") in found
    assert ("sql-injection", "GET /api/products") in found
    assert ("server-error-on-input", "POST /api/products") in found
    assert report.users == ["audit-user-1", "audit-user-2"]
    assert not any(r["path"].startswith("/api/") for r in app.seen)


def test_fixed_api_under_a_servers_prefix_has_no_findings():
    with serve(make_app(frozenset(), prefix="/v1"), probe="/v1/openapi.json") as base:
        report = run_audit(base, openapi="/v1/openapi.json", max_time=120, options=quick_options())
    assert [(f.id, f.operation) for f in report.findings] == []
    assert report.users == ["audit-user-1", "audit-user-2"]


SHELL_OR_SSRF = re.compile(
    rb"\$\(|`|;\s*(cat|id|sleep|ls|curl|wget)\b|\|\s*(id|cat|sh)\b|&&|169\.254\.169\.254|"
    rb"file:/|gopher:|dict:|metadata\.google|/etc/passwd"
)


def test_no_destructive_requests_without_allow_writes(flawed_run):
    app, report = flawed_run
    assert not any(r["method"] == "DELETE" for r in app.seen)
    assert "bola-delete" not in {f.id for f in report.findings}
    # updates only ever target orders the audit created, never order 1 that was there before
    patched = {r["path"] for r in app.seen if r["method"] == "PATCH"}
    assert patched and "/api/orders/1" not in patched


def test_allow_writes_finds_deleting_other_users_objects():
    app = make_app(FLAWS)
    with serve(app) as base:
        report = run_audit(
            base, max_time=120, allow_writes=True, options=quick_options(fuzz_examples=0)
        )
    found = {(f.id, f.operation) for f in report.findings}
    assert ("bola-delete", "DELETE /api/orders/{id}") in found
    assert any(r["method"] == "DELETE" for r in app.seen)


def test_probes_carry_no_shell_or_ssrf_payloads(prefixed_run):
    app, _ = prefixed_run
    sent = [r["path"].encode() + b"?" + r["query"] + b" " + r["body"] for r in app.seen]
    assert len(sent) > 100
    offending = [s for s in sent if SHELL_OR_SSRF.search(unquote_to_bytes(s))]
    assert offending == []


def test_excluded_operations_are_never_requested():
    """`--exclude`: what an auditor keeps the audit away from gets no request at all, the
    rest of the audit runs, and the report says what was left out."""
    app = make_app(FLAWS)
    exclude = ["* /api/orders/*", "get /api/admin/users", "DELETE /api/nothing-here"]
    with serve(app) as base:
        report = run_audit(
            base, max_time=120, exclude=exclude, options=quick_options(fuzz_examples=0)
        )
    requested = {(r["method"], r["path"]) for r in app.seen}
    assert not any(path.startswith("/api/orders/") for _, path in requested)
    assert ("GET", "/api/admin/users") not in requested
    assert ("POST", "/api/orders") in requested  # not covered by the globs
    found = {(f.id, f.operation) for f in report.findings}
    assert ("sql-injection", "GET /api/products") in found
    assert not any(
        f.operation in ("GET /api/orders/{id}", "GET /api/admin/users") for f in report.findings
    )
    assert any(
        "excluded by --exclude" in note and "GET /api/orders/{id}" in note for note in report.notes
    )
    assert "--exclude 'DELETE /api/nothing-here' matched no operation" in report.notes


def test_exclusions_match_the_path_as_served_under_a_prefix():
    app = make_app(FLAWS, prefix="/v1")
    with serve(app, probe="/v1/openapi.json") as base:
        run_audit(
            base,
            openapi="/v1/openapi.json",
            max_time=120,
            exclude=["* /v1/api/orders/*"],
            options=quick_options(fuzz_examples=0),
        )
    assert not any(r["path"].startswith("/v1/api/orders/") for r in app.seen)


@pytest.mark.parametrize("text", ["DELETE", "/api/x", "FETCH /api/x", "GET api/x"])
def test_an_exclusion_that_is_not_method_and_path_stops_the_audit(text):
    from backforge.audit.client import AuditError

    with pytest.raises(AuditError, match="METHOD PATH-GLOB"):
        run_audit("http://127.0.0.1:9", exclude=[text], max_time=5)


def test_objects_are_made_when_the_document_marks_nothing_required():
    """Many documents list no required request property: a create sent with only those fails,
    so the audit retries with every property, and the checks that need objects still run."""
    with serve(make_app(FLAWS, terse_document=True)) as base:
        report = run_audit(base, max_time=120, options=quick_options(fuzz_examples=0))
    found = {(f.id, f.operation) for f in report.findings}
    assert ("bola-read", "GET /api/orders/{id}") in found
    assert ("bola-change", "PATCH /api/orders/{id}") in found
