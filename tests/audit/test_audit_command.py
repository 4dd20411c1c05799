"""The command end to end, against the test app on a real server."""

from __future__ import annotations

import json

import click
import pytest
import yaml
from click.testing import CliRunner

from backforge.audit.auth import parse_user
from backforge.audit.checks import authentication, function_authz
from backforge.audit.command import audit
from backforge.audit.report import render_sarif
from backforge.audit.runner import run_audit

from .conftest import serve
from .shop_app import FLAWS, make_app

app = click.Group(commands={"audit": audit})
runner = CliRunner()


@pytest.fixture(scope="module")
def flawed_url():
    with serve(make_app(FLAWS)) as base:
        yield base


@pytest.fixture(scope="module")
def fixed_url():
    with serve(make_app(frozenset())) as base:
        yield base


def test_fixed_app_exits_zero_and_writes_sarif(fixed_url, tmp_path):
    out = tmp_path / "audit.sarif"
    result = runner.invoke(app, ["audit", fixed_url, "--format", "sarif", "-o", str(out)])
    assert result.exit_code == 0, result.output
    sarif = json.loads(out.read_text())
    assert sarif["runs"][0]["results"] == []


def test_flawed_app_fails_on_high_and_reports_json(flawed_url):
    args = ["--format", "json", "--fail-on", "critical", "--max-requests", "150"]
    result = runner.invoke(app, ["audit", flawed_url, *args])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["requests"] <= 150
    assert any(f["severity"] == "critical" for f in data["findings"])


def test_fail_on_none_always_exits_zero(flawed_url, tmp_path):
    out = tmp_path / "audit.html"
    args = ["--format", "html", "-o", str(out), "--fail-on", "none", "--max-requests", "150"]
    result = runner.invoke(app, ["audit", flawed_url, *args])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("<!doctype html>")


def test_non_loopback_target_is_refused_without_allow_host():
    result = runner.invoke(app, ["audit", "http://192.0.2.10:8000"])
    assert result.exit_code == 2
    assert "--allow-host" in result.output


def test_target_without_an_openapi_document_is_an_error(fixed_url):
    result = runner.invoke(app, ["audit", fixed_url, "--openapi", "/nope.json"])
    assert result.exit_code == 2
    assert "OpenAPI" in result.output


def test_wfc_login_recipe_authenticates(flawed_url, tmp_path):
    email, password = "wfc-user@example.com", "Wfc-password-123"
    import httpx

    httpx.post(f"{flawed_url}/auth/register", json={"email": email, "password": password})
    recipe = {
        "auth": [
            {
                "name": "wfc-user",
                "loginEndpointAuth": {
                    "endpoint": "/auth/login",
                    "verb": "POST",
                    "contentType": "application/json",
                    "payloadUserPwd": {
                        "username": email,
                        "password": password,
                        "usernameField": "email",
                        "passwordField": "password",
                    },
                    "token": {
                        "extractFrom": "body",
                        "extractSelector": "/access_token",
                        "sendIn": "header",
                        "sendName": "Authorization",
                        "sendTemplate": "Bearer {token}",
                    },
                },
            }
        ]
    }
    path = tmp_path / "auth.yaml"
    path.write_text(yaml.safe_dump(recipe))
    report = run_audit(
        flawed_url, users=[parse_user(f"wfc-user=wfc:{path}")], checks=[authentication]
    )
    assert report.users[0] == "wfc-user"
    assert ("jwt-weak-secret", "POST /auth/login") in {(f.id, f.operation) for f in report.findings}


def test_role_map_drives_function_level_checks(tmp_path):
    roles = {"operations": {"GET /api/users/me": ["admin"]}}  # pretend only admins may call it
    path = tmp_path / "roles.yaml"
    path.write_text(yaml.safe_dump(roles))
    from backforge.audit.auth import load_roles

    with serve(make_app(frozenset())) as base:  # a fresh server: no login limit spent yet
        report = run_audit(base, roles=load_roles(str(path)), checks=[function_authz])
    assert [(f.id, f.operation) for f in report.findings] == [
        ("bfla-privileged-operation", "GET /api/users/me")
    ]


def test_declaration_lint_is_reported_at_its_line(fixed_url, tmp_path):
    from backforge.audit.checks import declaration_lint

    declaration = tmp_path / "notes.yaml"
    declaration.write_text(
        "name: notes\n"
        "collections:\n"
        "  notes:\n"
        "    fields:\n"
        "      body: {type: text, required: true}\n"
        "    rules: {list: public, view: public, create: public}\n"
    )
    report = run_audit(fixed_url, declaration=str(declaration), checks=[declaration_lint])
    public = [f for f in report.findings if f.id == "declaration-public-write"]
    assert len(public) == 1
    assert public[0].location == (str(declaration), 6)
    assert "create notes" in public[0].title
    sarif = json.loads(render_sarif(report))
    region = sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert region["artifactLocation"]["uri"] == str(declaration)
    assert region["region"]["startLine"] == 6


def test_progress_bar_follows_checks_and_requests(fixed_url):
    import io

    from rich.console import Console

    from backforge.audit.checks import misconfiguration
    from backforge.audit.progress import RichAuditProgress

    buffer = io.StringIO()
    progress = RichAuditProgress(Console(file=buffer, force_terminal=True, width=120))
    report = run_audit(fixed_url, checks=[misconfiguration], progress=progress)
    assert progress.requests == report.requests > 0
    assert "audit" in buffer.getvalue()


def test_openapi_document_from_a_file(fixed_url, tmp_path):
    from backforge.audit.checks import misconfiguration

    from .shop_document import openapi_document

    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(openapi_document(frozenset())))
    report = run_audit(fixed_url, openapi=str(path), checks=[misconfiguration])
    assert report.document == str(path)
    assert report.operations == 19
    assert not any(e for e in report.findings)
