"""What the README says about accounts matches what the server does."""

from __future__ import annotations

from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
PASSWORD = "correct horse battery"
MEMBERS = {
    "name": "documented",
    "collections": {"members": {"auth": {"signup": "open"}, "rules": {"view": "id = auth.id"}}},
}


def _readme_row(prefix: str) -> str:
    rows = [line for line in README.read_text().splitlines() if line.startswith(prefix)]
    assert len(rows) == 1, prefix
    return rows[0]


# Documentation, not the database: one run, on SQLite.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_readme_names_the_cookies_a_session_login_sets(make_client):
    client = make_client(MEMBERS)
    body = {"email": "ann@example.com", "password": PASSWORD}
    assert client.post("/api/auth/members/signup", json=body).status_code == 201
    login = client.post("/api/auth/members/session", json=body)
    assert login.status_code == 200
    names = {c.split("=", 1)[0] for c in login.headers.get_list("set-cookie")}
    assert names == {"bf_session", "bf_csrf"}
    row = _readme_row("| `POST /api/auth/<c>/session`")
    for name in names:
        assert f"`{name}`" in row, name
