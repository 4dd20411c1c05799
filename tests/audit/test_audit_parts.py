"""The audit's parts on their own: tokens, credentials, guards, values, reports, exit codes."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from backforge.audit import jwt
from backforge.audit.auth import CredentialsError, parse_user
from backforge.audit.client import (
    AuditClient,
    BudgetExhausted,
    HostNotAllowed,
    WriteNotAllowed,
    check_host_allowed,
)
from backforge.audit.command import exit_code
from backforge.audit.findings import Evidence, Finding, Severity
from backforge.audit.report import render_html, render_json, render_sarif, render_table
from backforge.audit.runner import AuditReport
from backforge.audit.values import example_value
from backforge.audit.violations import body_violations


def test_weak_jwt_secret_is_found_and_strong_one_is_not():
    token = jwt.sign({"alg": "HS256", "typ": "JWT"}, {"sub": "1"}, b"changeme")
    assert jwt.crack(token) == "changeme"
    strong = jwt.sign({"alg": "HS256"}, {"sub": "1"}, b"k9$Zq!v7-not-in-any-dictionary-2d1f")
    assert jwt.crack(strong) is None


@pytest.mark.parametrize(
    ("secret", "alg"),
    [
        ("your-256-bit-secret", "HS256"),  # a packaged entry as written
        ("Flask2024", "HS384"),  # a word, capitalised, with a year
        ("my_jwt_secret", "HS512"),  # a word with `my_` before it
        ("JWTKEY", "HS256"),  # upper case
        ("31415", "HS256"),  # short numeric, brute-forced
    ],
)
def test_the_dictionary_finds_decorated_and_numeric_secrets(secret, alg):
    token = jwt.sign({"alg": alg, "typ": "JWT"}, {"sub": "7"}, secret.encode())
    assert jwt.crack(token) == secret


def test_the_packaged_dictionary_is_large_and_has_no_repeats():
    candidates = list(jwt.weak_secrets())
    assert len(candidates) > 10_000 and len(set(candidates)) == len(candidates)
    assert not any(c.startswith("#") for c in candidates)


def test_forged_tokens_keep_the_claims():
    token = jwt.sign({"alg": "HS256"}, {"sub": "42"}, b"secret")
    header, claims = jwt.decode(jwt.unsigned({"sub": "42"}))
    assert header["alg"] == "none" and claims == {"sub": "42"}
    tampered = jwt.tamper_signature(token)
    assert tampered != token and tampered.rsplit(".", 1)[0] == token.rsplit(".", 1)[0]
    assert jwt.crack(tampered, ["secret"]) is None


@pytest.mark.parametrize(
    ("text", "kind", "value", "secret"),
    [
        ("alice=bearer:abc.def.ghi", "bearer", "abc.def.ghi", None),
        ("alice=abc", "token", "abc", None),
        ("bob=basic:bob:pa:ss", "basic", "bob", "pa:ss"),
        ("bob=login:bob@example.com:pw", "login", "bob@example.com", "pw"),
        ("bob=bob:pw", "auto", "bob", "pw"),
        ("svc=apikey:k-123", "apikey", "k-123", None),
        ("c=cookie:session=xyz", "cookie", "session=xyz", None),
        ("w=wfc:auth.yaml", "wfc", "auth.yaml", None),
    ],
)
def test_user_credentials_are_parsed(text, kind, value, secret):
    spec = parse_user(text)
    assert (spec.kind, spec.value, spec.secret) == (kind, value, secret)


def test_user_without_name_is_refused():
    with pytest.raises(CredentialsError):
        parse_user("just-a-token")


def test_only_loopback_hosts_unless_allowed():
    check_host_allowed("http://127.0.0.1:8000", [])
    check_host_allowed("http://localhost:8000/api", [])
    check_host_allowed("http://[::1]:8000", [])
    with pytest.raises(HostNotAllowed):
        check_host_allowed("http://192.0.2.10:8000", [])
    check_host_allowed("http://192.0.2.10:8000", ["192.0.2.10"])
    with pytest.raises(HostNotAllowed):
        check_host_allowed("file:///etc/passwd", [])


def test_client_refuses_requests_to_other_hosts_and_destructive_methods():
    client = AuditClient("http://127.0.0.1:9", max_requests=10, max_time=10)
    with pytest.raises(HostNotAllowed):
        client.send("GET", "http://192.0.2.10/x")
    with pytest.raises(WriteNotAllowed):
        client.send("DELETE", "/api/orders/1")
    with pytest.raises(WriteNotAllowed):
        client.send("PATCH", "/api/orders/1")
    assert client.sent == 0
    client.close()


def test_client_stops_when_the_budget_is_spent():
    client = AuditClient("http://127.0.0.1:9", max_requests=1, max_time=10)
    exchange = client.send("GET", "/")  # nothing listens on port 9: recorded as status 0
    assert exchange.status == 0
    with pytest.raises(BudgetExhausted):
        client.send("GET", "/")
    client.close()


def test_example_values_respect_the_schema():
    assert example_value({"type": "integer", "minimum": 5}) == 5
    assert example_value({"type": "integer", "maximum": -3}) == -3
    assert example_value({"type": "string", "enum": ["a", "b"]}) == "a"
    assert len(example_value({"type": "string", "maxLength": 4})) <= 4
    assert "@" in example_value({"type": "string", "format": "email"})
    first, second = example_value({"type": "string"}, "email"), example_value({}, "email")
    assert first != second  # unique, so that unique constraints hold


def test_each_violation_breaks_one_constraint():
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 3},
            "price": {"type": "number", "minimum": 0},
        },
        "required": ["name"],
        "additionalProperties": False,
    }
    valid = {"name": "abc", "price": 1}
    violations = dict(body_violations(schema, valid))
    assert violations["required property 'name' missing"] == {"price": 1}
    assert violations["'price': below the minimum"] == {"name": "abc", "price": -1}
    assert violations["'name': longer than maxLength"] == {"name": "xxxx", "price": 1}
    assert "bf_audit_unknown" in violations["an undeclared property"]


def _report() -> AuditReport:
    evidence = Evidence(
        method="GET",
        url="http://127.0.0.1/x?q=<script>",
        request_headers={"Authorization": "Bearer x"},
        status=200,
        response_headers={"content-type": "text/html"},
        response_body="<script>alert(1)</script>",
    )
    findings = [
        Finding(
            id="sql-injection",
            title="SQL injection",
            severity=Severity.CRITICAL,
            category="API8:2023",
            operation="GET /x",
            check="injection",
            detail="d",
            fix="f",
            evidence=[evidence],
        ),
        Finding(
            id="version-banner",
            title="Banner",
            severity=Severity.LOW,
            category="API8:2023",
            operation="*",
            check="misconfiguration",
            detail="d",
            fix="f",
        ),
    ]
    return AuditReport(
        target="http://127.0.0.1:1",
        document="http://127.0.0.1:1/openapi.json",
        findings=findings,
        requests=3,
        seconds=0.1,
        checks_run=["injection"],
        notes=["a note"],
    )


def test_sarif_report_has_rules_results_and_levels():
    sarif = json.loads(render_sarif(_report()))
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert rules == ["sql-injection", "version-banner"]
    levels = [(r["ruleId"], r["level"], r["ruleIndex"]) for r in run["results"]]
    assert levels == [("sql-injection", "error", 0), ("version-banner", "note", 1)]
    location = run["results"][0]["locations"][0]
    assert location["physicalLocation"]["artifactLocation"]["uri"] == "openapi.json"
    assert location["logicalLocations"][0]["name"] == "GET /x"


def test_html_report_is_self_contained_and_escaped():
    html = render_html(_report())
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "sql-injection" in html and "a note" in html


def test_json_and_table_reports_list_every_finding():
    data = json.loads(render_json(_report()))
    assert [f["id"] for f in data["findings"]] == ["sql-injection", "version-banner"]
    assert data["findings"][0]["category_name"] == "Security Misconfiguration"
    table = render_table(_report())
    assert "sql-injection" in table and "version-banner" in table and "2 findings" in table


@pytest.mark.parametrize(
    ("severities", "fail_on", "code"),
    [
        ([Severity.LOW], "high", 0),
        ([Severity.HIGH], "high", 1),
        ([Severity.CRITICAL], "high", 1),
        ([Severity.MEDIUM], "medium", 1),
        ([Severity.CRITICAL], "none", 0),
        ([], "info", 0),
    ],
)
def test_exit_code_follows_fail_on(severities, fail_on, code):
    assert exit_code(severities, fail_on) == code


@pytest.mark.parametrize(
    ("schemes", "headers", "query"),
    [
        ({"k": {"type": "apiKey", "in": "header", "name": "X-Key"}}, {"X-Key": "abc"}, {}),
        ({"k": {"type": "apiKey", "in": "query", "name": "key"}}, {}, {"key": "abc"}),
        ({"b": {"type": "http", "scheme": "bearer"}}, {"Authorization": "Bearer abc"}, {}),
        ({}, {"Authorization": "Bearer abc"}, {}),
    ],
)
def test_a_bare_token_is_sent_as_the_document_says(schemes, headers, query):
    from backforge.audit.auth import identity_from_spec
    from backforge.audit.context import AuditContext, AuditOptions
    from backforge.audit.openapi import build_document

    raw = {"openapi": "3.0.3", "paths": {}, "components": {"securitySchemes": schemes}}
    client = AuditClient("http://127.0.0.1:9", max_requests=1, max_time=1)
    ctx = AuditContext(client, build_document(raw, "doc"), AuditOptions())
    (identity,) = identity_from_spec(ctx, parse_user("svc=abc"))
    assert (identity.headers, identity.query) == (headers, query)
    client.close()


def test_a_failing_check_is_noted_and_the_others_still_run(monkeypatch):
    import types

    from backforge.audit.runner import run_audit

    from .conftest import serve
    from .shop_app import make_app

    def explode(ctx):
        raise RuntimeError("boom")

    broken = types.SimpleNamespace(NAME="broken", run=explode)
    from backforge.audit.checks import misconfiguration

    with serve(make_app()) as base:
        report = run_audit(base, checks=[broken, misconfiguration])
    assert report.checks_run == ["misconfiguration"]
    assert "check broken stopped: RuntimeError: boom" in report.notes
    assert any(f.check == "misconfiguration" for f in report.findings)


def test_name_equals_password_logs_in_as_that_name():
    """--user NAME=PASS (the form people type) logs in; it is not sent as a bearer token."""
    from backforge.audit.auth import find_auth_operations, identity_from_spec
    from backforge.audit.context import AuditContext, AuditOptions
    from backforge.audit.openapi import load_document

    from .conftest import serve
    from .shop_app import make_app

    with serve(make_app(frozenset())) as base:
        registered = httpx.post(
            base + "/auth/register",
            json={"email": "ann@example.com", "password": "correct-horse-1", "name": "Ann"},
        )
        assert registered.status_code == 201
        client = AuditClient(base, max_requests=50, max_time=20)
        ctx = AuditContext(client, load_document(client, None), AuditOptions())
        find_auth_operations(ctx)
        (identity,) = identity_from_spec(ctx, parse_user("ann@example.com=correct-horse-1"))
        assert identity.token and identity.headers["Authorization"] != "Bearer correct-horse-1"
        me = httpx.get(base + "/api/users/me", headers=identity.headers)
        assert me.status_code == 200 and me.json()["email"] == "ann@example.com"
        client.close()
