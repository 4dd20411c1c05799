"""The middleware's pieces in process: settings, JSON depth, ETags, cache invalidation."""

from __future__ import annotations

import asyncio
import io
import logging
from urllib.parse import urljoin

import orjson
import pytest
from mw_support import ADMIN, ADMIN_TOKEN, DECLARATION
from prometheus_client import generate_latest
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.routing import Mount

from asgi_client import SyncASGIClient
from backforge import App
from backforge.config import load_config
from backforge.http.middleware.conditional import etag_matches
from backforge.http.middleware.metrics import Metrics
from backforge.http.middleware.observe import RequestObserver
from backforge.http.middleware.request_limits import json_depth_exceeds
from backforge.http.middleware.response_cache import affected_collections
from backforge.http.middleware.structured_logs import (
    REDACTED,
    JsonAccessLog,
    configure_logging,
    redact,
)
from backforge.spec import DeclarationError, load_dict, load_text
from backforge.spec.server import Log, ServerSettings


def test_the_environment_overrides_the_declaration_which_overrides_defaults(monkeypatch):
    declared = ServerSettings.model_validate(
        {"rate_limits": {"default": "5/minute", "auth": "2/minute"}, "log": {"level": "debug"}}
    )
    monkeypatch.setenv("BACKFORGE_RATE_LIMITS__DEFAULT", "7/hour")
    monkeypatch.setenv("BACKFORGE_CORS__ORIGINS", '["https://app.example"]')
    monkeypatch.setenv("BACKFORGE_SHUTDOWN_TIMEOUT", "3")
    config = load_config(declared)
    assert config.rate_limits.default == "7/hour"  # environment
    assert config.rate_limits.auth == "2/minute"  # declaration
    assert config.log.level == "debug"
    assert config.cors.origins == ["https://app.example"]
    assert config.shutdown_timeout == 3
    assert config.limits.max_json_depth == 32  # default


def test_secrets_come_from_the_environment_or_files_never_the_declaration(monkeypatch, tmp_path):
    secret_file = tmp_path / "metrics-token"
    secret_file.write_text("from-a-file\n")
    monkeypatch.delenv("BACKFORGE_METRICS_TOKEN", raising=False)
    monkeypatch.setenv("BACKFORGE_METRICS_TOKEN_FILE", str(secret_file))
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    config = load_config(None)
    assert config.metrics_token.get_secret_value() == "from-a-file"
    assert config.redis == "redis://127.0.0.1:1/0"
    assert "from-a-file" not in repr(config)
    with pytest.raises(ValidationError):
        ServerSettings.model_validate({"metrics_token": "in-the-file"})


@pytest.mark.parametrize(
    "server, message",
    [
        ({"cors": {"origins": ["*"], "allow_credentials": True}}, "allow_credentials"),
        ({"cors": {"origins": ["https://a.example/path"]}}, "not an origin"),
        ({"rate_limits": {"default": "lots"}}, "not a rate"),
        ({"limits": {"max_json_depth": 1}}, "greater than or equal to 2"),
        ({"cache": {"respones": True}}, "respones"),
    ],
)
def test_unsafe_or_mistyped_server_settings_are_refused(server, message):
    data = {"name": "x", "collections": {"a": {"fields": {}}}, "server": server}
    with pytest.raises(DeclarationError) as error:
        load_dict(data)
    assert message in str(error.value)


def test_json_depth_counts_brackets_outside_strings_only():
    assert not json_depth_exceeds(b'{"a": [1, 2, {"b": 3}]}', 3)
    assert json_depth_exceeds(b'{"a": [1, 2, {"b": [3]}]}', 3)
    assert not json_depth_exceeds(b'{"a": "[[[[[[[[{{{{{{{{", "b": "\\"[[[[[["}', 2)
    assert json_depth_exceeds(b"[" * 10_000 + b"]" * 10_000, 64)
    assert not json_depth_exceeds(b"[[1], [2], [3], [4], [5]]", 2)


def test_etag_comparison_is_weak_and_takes_lists_and_star():
    assert etag_matches(b'"3"', b'"3"')
    assert etag_matches(b'W/"3"', b'"3"')
    assert etag_matches(b'"ab"', b'W/"ab"')
    assert etag_matches(b'"1", "2", "3"', b'"3"')
    assert etag_matches(b"*", b'"3"')
    assert not etag_matches(b'"33"', b'"3"')


def test_a_write_invalidates_the_collection_and_those_that_refer_to_it():
    spec = load_dict(
        {
            "name": "x",
            "collections": {
                "orders": {"fields": {}},
                "items": {
                    "fields": {
                        "order": {"type": "relation", "to": "orders", "on_delete": "cascade"}
                    }
                },
                "notes": {"fields": {"item": {"type": "relation", "to": "items"}}},
                "other": {"fields": {}},
            },
        }
    )
    affected = affected_collections(spec)
    assert affected["orders"] == {"orders", "items", "notes"}  # cascades reach notes' answers
    assert affected["items"] == {"items", "notes"}
    assert affected["other"] == {"other"}


def test_log_lines_redact_secret_names_and_credential_looking_values():
    event = {
        "event": "request",
        "password": "hunter2",
        "api_key": "k",
        "Cookie": "session=1",
        "note": "Authorization: Bearer abcdefghijkl",
        "route": "/api/notes",
    }
    redacted = redact(None, "info", event)
    assert redacted["password"] == redacted["api_key"] == redacted["Cookie"] == REDACTED
    assert "abcdefghijkl" not in redacted["note"]
    assert redacted["route"] == "/api/notes"


def test_json_logs_are_one_redacted_object_a_line(capsys):
    access = configure_logging(Log(format="json", level="info"))
    access.info("request", route="/api/notes", status=200, token="secret-value")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("backforge.test").exception("failed with Bearer abcdefghijklmnop")
    lines = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    request, failure = lines
    assert request["event"] == "request" and request["status"] == 200
    assert request["token"] == REDACTED and request["level"] == "info"
    assert request["timestamp"].endswith("Z")
    assert failure["level"] == "error" and "abcdefghijklmnop" not in failure["event"]
    assert "ValueError: boom" in failure["exception"]


@pytest.fixture
def app(tmp_path, monkeypatch) -> App:
    monkeypatch.setenv("BACKFORGE_CACHE__RESPONSES", "true")
    monkeypatch.setenv("BACKFORGE_LOG__ACCESS", "false")
    monkeypatch.delenv("REDIS_URL", raising=False)
    return App(
        load_text(DECLARATION),
        f"sqlite:///{tmp_path / 'units.db'}",
        auto_migrate=True,
        admin_token=ADMIN_TOKEN,
    )


def test_memory_cache_serves_anonymous_reads_until_a_related_write(app):
    with SyncASGIClient(app) as client:
        secret = client.post("/api/secrets", json={"label": "a"}, headers=ADMIN).json()
        client.post("/api/notes", json={"title": "n", "secret": secret["id"]}, headers=ADMIN)
        page = "/api/notes?expand=secret"
        assert "x-cache" not in client.get(page).headers
        assert client.get(page).headers["x-cache"] == "hit"
        assert "x-cache" not in client.get(page + "&limit=5").headers  # another key
        # Admin-only collections are never cached, even for anonymous callers.
        assert client.get("/api/secrets").status_code in (401, 403)
        assert "x-cache" not in client.get("/api/secrets").headers
        # A write to secrets changes what notes' answers may embed: they are recomputed.
        client.patch(f"/api/secrets/{secret['id']}", json={"label": "b"}, headers=ADMIN)
        assert "x-cache" not in client.get(page).headers


def test_hsts_only_over_https(app):
    with SyncASGIClient(app, base_url="https://testserver") as client:
        answer = client.get("/healthz")
        assert answer.headers["strict-transport-security"] == "max-age=31536000"
    with SyncASGIClient(app) as client:
        assert "strict-transport-security" not in client.get("/healthz").headers


def test_a_revalidated_docs_page_keeps_its_own_content_security_policy(app):
    with SyncASGIClient(app) as client:
        page = client.get("/docs")
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy  # the page's own, not the API's default
        again = client.get("/docs", headers={"If-None-Match": page.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["content-security-policy"] == policy


def test_the_stack_works_mounted_under_a_prefix(app):
    outer = Starlette(routes=[Mount("/v1", app=app)])
    with SyncASGIClient(outer) as client:
        assert client.get("/v1/healthz").json() == {"status": "ok"}
        listed = client.get("/v1/api/notes")
        assert listed.status_code == 200
        assert listed.headers["cache-control"] == "public, no-cache"
        assert client.get("/v1/api/notes").headers["x-cache"] == "hit"
        # Both docs pages load what they name from below the prefix.
        for page, assets in (
            ("/v1/docs", ["docs/swagger/swagger-ui-bundle.js", "docs/console.js"]),
            ("/v1/docs/reference", ["docs.js", "docs.css"]),
        ):
            html = client.get(page)
            assert html.status_code == 200
            for asset in assets:
                assert f'"{asset}"' in html.text
                resolved = urljoin(f"http://test{page}", asset)
                assert client.get(resolved).status_code == 200, resolved
        slash = client.get("/v1/docs/")
        assert slash.status_code == 308
        assert urljoin("http://test/v1/docs/", slash.headers["location"]).endswith("/v1/docs")


def test_signed_in_users_are_limited_each_on_their_own(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKFORGE_RATE_LIMITS__DEFAULT", "3/hour")
    monkeypatch.setenv("BACKFORGE_RATE_LIMITS__AUTH", "100/hour")
    monkeypatch.setenv("BACKFORGE_LOG__ACCESS", "false")
    monkeypatch.delenv("REDIS_URL", raising=False)
    declaration = """
name: people
collections:
  users:
    auth: true
    rules: {view: id = auth.id}
  notes:
    fields: {title: {type: text}}
    rules: {list: public, view: public}
"""
    app = App(load_text(declaration), f"sqlite:///{tmp_path / 'people.db'}", auto_migrate=True)
    with SyncASGIClient(app) as client:
        tokens = []
        for email in ("ann@example.com", "bob@example.com"):
            body = {"email": email, "password": "a-long-enough-password"}
            signed_up = client.post("/api/auth/users/signup", json=body)
            assert signed_up.status_code == 201, signed_up.text
            tokens.append({"Authorization": f"Bearer {signed_up.json()['access_token']}"})
        ann, bob = tokens
        assert [client.get("/api/notes", headers=ann).status_code for _ in range(4)] == [
            200,
            200,
            200,
            429,
        ]
        # Bob and the anonymous callers of the same address have budgets of their own.
        assert client.get("/api/notes", headers=bob).headers["ratelimit-remaining"] == "2"
        assert client.get("/api/notes").headers["ratelimit-remaining"] == "2"


def test_a_failure_outside_the_routes_still_answers_a_problem():
    async def broken(scope, receive, send):
        raise RuntimeError("a bug in some layer, with internals: /srv/secret/path")

    observer = RequestObserver(broken, None, None, lambda scope: "unmatched")
    answer = SyncASGIClient(observer).get("/anything")
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"] == "urn:backforge:problem:internal"
    assert "secret" not in answer.text and answer.headers["x-request-id"]


def test_request_metrics_count_each_answer_into_its_latency_bucket():
    metrics = Metrics()
    metrics.observe("GET", "/api/notes/{id}", 200, 0.0025)  # a bound belongs to its bucket
    metrics.observe("GET", "/api/notes/{id}", 200, 0.003)
    metrics.observe("GET", "/api/notes/{id}", 404, 30.0)  # beyond every bound: +Inf only
    metrics.in_flight += 1
    text = generate_latest(metrics.registry).decode()
    route = 'method="GET",route="/api/notes/{id}"'
    assert f'backforge_requests_total{{{route},status="200"}} 2.0' in text
    assert f'backforge_requests_total{{{route},status="404"}} 1.0' in text
    for bound, count in (("0.001", 0), ("0.0025", 1), ("0.005", 2), ("10.0", 2), ("+Inf", 3)):
        bucket = f'backforge_request_duration_seconds_bucket{{le="{bound}",{route}}}'
        assert f"{bucket} {count}.0" in text
    assert f"backforge_request_duration_seconds_count{{{route}}} 3.0" in text
    assert f"backforge_request_duration_seconds_sum{{{route}}} 30.0055" in text
    assert "backforge_requests_in_flight 1.0" in text


def test_access_lines_of_one_event_loop_turn_leave_in_one_write():
    class CountingStream(io.StringIO):
        writes = 0

        def write(self, text: str) -> int:
            self.writes += 1
            return super().write(text)

    stream = CountingStream()
    access = JsonAccessLog(stream, logging.INFO)

    async def two_requests_in_one_turn() -> int:
        access.info("request", route="/api/notes", status=200)
        access.info("request", route="/api/notes/{id}", status=404, token="eyJsecret")
        written_before_the_turn_ends = stream.writes
        await asyncio.sleep(0)
        return written_before_the_turn_ends

    assert asyncio.run(two_requests_in_one_turn()) == 0
    assert stream.writes == 1
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["status"] for line in lines] == [200, 404]
    assert lines[1]["token"] == REDACTED
    access.info("request", route="/healthz", status=200)  # outside an event loop: at once
    assert stream.writes == 2 and stream.getvalue().count("\n") == 3
