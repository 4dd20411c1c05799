"""`backforge serve` believes X-Forwarded-For / X-Forwarded-Proto only from the proxies named in
`server.forwarded_allow_ips` (or BACKFORGE_FORWARDED_ALLOW_IPS); by default from nobody, not
even 127.0.0.1 (uvicorn's own default), so a client cannot choose the address that rate limits
and login lockouts count it under."""

from __future__ import annotations

import textwrap

import httpx
import pytest

FORWARDED = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}


def _whoami_server(make_server, tmp_path, server_section: str = ""):
    (tmp_path / "whoami_hooks.py").write_text(
        textwrap.dedent("""
        from backforge.hooks import Endpoints

        endpoints = Endpoints()

        @endpoints.get("/api/whoami")
        def whoami(ctx):
            return {"client": ctx.client_address, "scheme": ctx.request.url.scheme}
        """)
    )
    (tmp_path / "whoami.yaml").write_text(
        "name: whoami\nhooks: whoami_hooks.py\n"
        "collections:\n  notes: {fields: {text: {type: text}}}\n" + server_section
    )
    server = make_server("blog.yaml")  # its environment and port; the declaration is ours
    server.declaration = tmp_path / "whoami.yaml"
    return server


def _whoami(server) -> dict:
    response = httpx.get(f"{server.url}/api/whoami", headers=FORWARDED, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


# Header handling does not depend on the database: one run, on SQLite.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_forwarded_headers_are_ignored_unless_the_proxy_is_trusted(make_server, tmp_path):
    server = _whoami_server(make_server, tmp_path)
    server.environment.pop("FORWARDED_ALLOW_IPS", None)  # uvicorn's variable changes nothing
    server.start("--dev")
    assert _whoami(server) == {"client": "127.0.0.1", "scheme": "http"}
    server.stop()

    server.environment["BACKFORGE_FORWARDED_ALLOW_IPS"] = '["127.0.0.1"]'
    server.start("--dev")
    assert _whoami(server) == {"client": "203.0.113.9", "scheme": "https"}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_declaration_names_the_trusted_proxies(make_server, tmp_path):
    section = "server:\n  forwarded_allow_ips: [10.0.0.0/8, 127.0.0.0/8]\n"
    server = _whoami_server(make_server, tmp_path, section).start("--dev")
    assert _whoami(server)["client"] == "203.0.113.9"


def test_forwarded_allow_ips_must_be_addresses_or_networks(monkeypatch):
    from backforge.config import load_config
    from backforge.spec.server import ServerSettings

    assert load_config().forwarded_allow_ips == []
    declared = ServerSettings(forwarded_allow_ips=["10.0.0.1", "fd00::/8", "*"])
    assert load_config(declared).forwarded_allow_ips == ["10.0.0.1", "fd00::/8", "*"]
    monkeypatch.setenv("BACKFORGE_FORWARDED_ALLOW_IPS", '["192.0.2.1"]')
    assert load_config(declared).forwarded_allow_ips == ["192.0.2.1"]
    with pytest.raises(ValueError, match="not an IP address or network"):
        ServerSettings(forwarded_allow_ips=["proxy.internal"])
