"""The audit's GraphQL check against a GraphQL-only pastebin with the usual flaws and its secure
twin (no OpenAPI document at all), and against backforge's own /graphql."""

from __future__ import annotations

from pathlib import Path

import pytest

from backforge import App
from backforge.audit.checks import graphql, misconfiguration
from backforge.audit.findings import Severity
from backforge.audit.runner import run_audit
from backforge.database import create_database_engine
from backforge.store.caller import ADMIN

from .conftest import serve
from .corpus.common import serve_asgi
from .corpus.pastes_graphql import make_app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FLAWS = {
    "graphql-introspection",
    "graphql-no-depth-limit",
    "graphql-alias-batching",
    "graphql-array-batching",
    "graphql-get-mutation",
    "graphql-sql-injection",
}


def _audit(url: str):
    return run_audit(url, checks=[graphql, misconfiguration], max_time=60)


def test_every_flaw_of_the_graphql_pastebin_is_found():
    with serve_asgi(make_app(secure=False)) as url:
        report = _audit(url)
    found = {f.id for f in report.findings if f.check == "graphql"}
    assert found == FLAWS, found
    injection = next(f for f in report.findings if f.id == "graphql-sql-injection")
    assert injection.severity == Severity.HIGH and "pastes(filter)" in injection.operation
    assert any("no OpenAPI document" in note for note in report.notes)


def test_the_secure_twin_has_no_graphql_finding():
    with serve_asgi(make_app(secure=True)) as url:
        report = _audit(url)
    assert [f.id for f in report.findings if f.check == "graphql"] == []
    assert any("GraphQL endpoint found at /graphql" in note for note in report.notes)


@pytest.mark.parametrize("introspection", [True, False])
def test_backforge_graphql_has_nothing_beyond_an_open_schema(tmp_path, monkeypatch, introspection):
    monkeypatch.setenv("BACKFORGE_GRAPHQL__INTROSPECTION", str(introspection).lower())
    engine = create_database_engine(f"sqlite:///{tmp_path / 'shop.db'}")
    app = App.from_file(EXAMPLES / "shop.yaml", engine, admin_token="a" * 32)
    app.store.metadata.create_all(engine)
    app.store.create("categories", ADMIN, {"name": "Maps", "slug": "maps"})
    try:
        with serve(app, probe="/api/openapi.json") as url:
            report = run_audit(url, checks=[graphql], max_time=60)
    finally:
        engine.dispose()
    above_info = [(f.id, f.detail) for f in report.findings if f.severity > Severity.INFO]
    assert above_info == []
    open_schema = [f.id for f in report.findings] == ["graphql-introspection"]
    assert open_schema is introspection
