"""Accounts: sign-up, login, tokens (tampering, expiry, rotation), refresh rotation with reuse
detection, logout, lockout, API keys, cookie sessions with CSRF, TOTP, one-time tokens."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pyotp
import pytest

from backforge.auth.mail import Mailer

KEY_OLD = "k-old:" + "o" * 40
KEY_NEW = "k-new:" + "n" * 40
PASSWORD = "correct horse battery"
USERS = {
    "name": "accounts",
    "collections": {
        "users": {
            "auth": {"signup": "open", "login": ["email", "username"], "max_failed_logins": 3},
            "fields": {"name": {"type": "text", "max_length": 50}},
            "rules": {"view": "id = auth.id", "update": "id = auth.id", "list": "id = auth.id"},
        },
        "notes": {
            "fields": {
                "owner": {
                    "type": "relation",
                    "to": "users",
                    "required": True,
                    "default": "auth.id",
                    "readonly": True,
                },
                "text": {"type": "text"},
            },
            "rules": {
                "list": "owner = auth.id",
                "view": "owner = auth.id",
                "create": "auth.id != null",
                "update": "owner = auth.id",
                "delete": "owner = auth.id",
            },
        },
    },
}


@pytest.fixture
def mailer():
    return Mailer(None, "test@backforge.local")


@pytest.fixture
def client(make_client, monkeypatch, mailer):
    monkeypatch.setenv("BACKFORGE_JWT_KEYS", KEY_NEW)
    return make_client(USERS, mailer=mailer)


def _signup(client, email="ann@example.com", **extra):
    response = client.post(
        "/api/auth/users/signup", json={"email": email, "password": PASSWORD, **extra}
    )
    assert response.status_code == 201, response.text
    return response.json()


def _bearer(tokens):
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def _assert_no_secrets(text: str):
    for secret in ("password_hash", "totp_secret", "$argon2", PASSWORD):
        assert secret not in text


def test_signup_returns_tokens_and_the_record_without_secrets(client):
    tokens = _signup(client, name="Ann")
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 900
    assert tokens["refresh_token"].startswith("bfr_")
    record = tokens["record"]
    assert record["email"] == "ann@example.com" and record["verified"] is False
    assert record["admin"] is False
    _assert_no_secrets(json.dumps(tokens))
    me = client.get("/api/auth/me", headers=_bearer(tokens))
    assert me.status_code == 200 and me.json()["id"] == record["id"]


def test_signup_cannot_set_privileged_fields(client):
    for field, value in (("admin", True), ("verified", True), ("password_hash", "x")):
        response = client.post(
            "/api/auth/users/signup",
            json={"email": "eve@example.com", "password": PASSWORD, field: value},
        )
        assert response.status_code == 422, field
        assert response.json()["errors"][0]["path"] == f"/{field}"


def test_weak_password_and_taken_email(client):
    short = client.post("/api/auth/users/signup", json={"email": "a@example.com", "password": "x"})
    assert short.status_code == 422 and short.json()["errors"][0]["path"] == "/password"
    _signup(client)
    again = client.post(
        "/api/auth/users/signup", json={"email": "ann@example.com", "password": PASSWORD}
    )
    assert again.status_code == 409


def test_login_by_email_or_username_and_same_answer_for_unknown_user(client):
    _signup(client, username="ann")
    for identity in ("ann@example.com", "ANN@example.com", "ann"):
        ok = client.post("/api/auth/users/login", json={"identity": identity, "password": PASSWORD})
        assert ok.status_code == 200, ok.text
    wrong = client.post(
        "/api/auth/users/login", json={"email": "ann@example.com", "password": "wrong password!"}
    )
    unknown = client.post(
        "/api/auth/users/login", json={"email": "nobody@example.com", "password": "wrong password!"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def test_lockout_after_repeated_failures_even_with_the_right_password(client):
    _signup(client)
    for _ in range(3):
        response = client.post(
            "/api/auth/users/login",
            json={"email": "ann@example.com", "password": "wrong password!"},
        )
        assert response.status_code == 401
    locked = client.post(
        "/api/auth/users/login", json={"email": "ann@example.com", "password": PASSWORD}
    )
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0


def _forge(claims: dict, secret: str, kid: str = "k-new", algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm, headers={"kid": kid})


def test_tampered_tokens_are_refused(client):
    tokens = _signup(client)
    good = tokens["access_token"]
    claims = jwt.decode(good, options={"verify_signature": False})
    secret = KEY_NEW.split(":", 1)[1]
    header, payload, signature = good.split(".")
    unsigned_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT","kid":"k-new"}')
    forged = {
        "alg none": unsigned_header.rstrip(b"=").decode() + "." + payload + ".",
        "altered signature": f"{header}.{payload}.{signature[:-2]}AA",
        "altered payload": header
        + "."
        + base64.urlsafe_b64encode(json.dumps({**claims, "adm": True}).encode())
        .rstrip(b"=")
        .decode()
        + "."
        + signature,
        "expired": _forge({**claims, "exp": int(time.time()) - 10}, secret),
        "wrong audience": _forge({**claims, "aud": "another-app"}, secret),
        "unknown key id": _forge(claims, secret, kid="k-other"),
        "wrong secret": _forge(claims, "x" * 40),
        "not a token": "abc.def",
    }
    for name, token in forged.items():
        response = client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, name
        assert response.headers["content-type"] == "application/problem+json"
    assert client.get("/api/auth/me", headers=_bearer(tokens)).status_code == 200


def test_key_rotation_keeps_old_tokens_valid(make_client, monkeypatch):
    monkeypatch.setenv("BACKFORGE_JWT_KEYS", KEY_OLD)
    old_app = make_client(USERS)
    tokens = _signup(old_app)
    monkeypatch.setenv("BACKFORGE_JWT_KEYS", f"{KEY_NEW},{KEY_OLD}")
    rotated = make_client(USERS)
    assert rotated.get("/api/auth/me", headers=_bearer(tokens)).status_code == 200
    fresh = rotated.post(
        "/api/auth/users/login", json={"email": "ann@example.com", "password": PASSWORD}
    ).json()
    assert jwt.get_unverified_header(fresh["access_token"])["kid"] == "k-new"
    monkeypatch.setenv("BACKFORGE_JWT_KEYS", KEY_NEW)
    retired = make_client(USERS)
    assert retired.get("/api/auth/me", headers=_bearer(tokens)).status_code == 401


def test_refresh_rotates_and_reuse_revokes_the_family(client):
    first = _signup(client)
    second = client.post(
        "/api/auth/users/refresh", json={"refresh_token": first["refresh_token"]}
    ).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert client.get("/api/auth/me", headers=_bearer(second)).status_code == 200
    reuse = client.post("/api/auth/users/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 400 and "reuse" in reuse.json()["detail"]
    # The thief's reuse also kills the legitimate holder's newer token.
    after = client.post("/api/auth/users/refresh", json={"refresh_token": second["refresh_token"]})
    assert after.status_code == 400


def test_logout_revokes_the_refresh_token(client):
    tokens = _signup(client)
    assert (
        client.post(
            "/api/auth/users/logout", json={"refresh_token": tokens["refresh_token"]}
        ).status_code
        == 204
    )
    response = client.post(
        "/api/auth/users/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert response.status_code == 400


def test_owner_preset_and_owner_only_rules(client):
    ann = _signup(client)
    bob = _signup(client, "bob@example.com")
    note = client.post("/api/notes", json={"text": "ann's"}, headers=_bearer(ann))
    assert note.status_code == 201 and note.json()["owner"] == ann["record"]["id"]
    forged = client.post(
        "/api/notes", json={"text": "x", "owner": bob["record"]["id"]}, headers=_bearer(ann)
    )
    assert (
        forged.status_code == 422
        and forged.json()["errors"][0]["message"] == "this field is read-only"
    )
    url = f"/api/notes/{note.json()['id']}"
    assert client.get(url, headers=_bearer(bob)).status_code == 404
    assert client.patch(url, json={"text": "mine"}, headers=_bearer(bob)).status_code == 404
    assert client.delete(url, headers=_bearer(bob)).status_code == 404
    assert client.get("/api/notes", headers=_bearer(bob)).json()["items"] == []
    assert client.get(url, headers=_bearer(ann)).status_code == 200
    assert client.post("/api/notes", json={"text": "anon"}).status_code == 422


def test_api_keys_are_shown_once_scoped_and_revocable(client):
    ann = _signup(client)
    client.post("/api/notes", json={"text": "one"}, headers=_bearer(ann))
    created = client.post(
        "/api/auth/keys", json={"name": "ci", "scopes": ["notes:list"]}, headers=_bearer(ann)
    )
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith("bfk_") and created.json()["prefix"] in key
    listed = client.get("/api/auth/keys", headers=_bearer(ann)).json()["items"]
    assert len(listed) == 1 and "key" not in listed[0] and key not in json.dumps(listed)
    as_key = {"X-API-Key": key}
    assert len(client.get("/api/notes", headers=as_key).json()["items"]) == 1
    assert client.get("/api/notes", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert client.post("/api/notes", json={"text": "no"}, headers=as_key).status_code == 403
    assert (
        client.post(
            "/api/auth/keys", json={"name": "x", "scopes": ["*"]}, headers=as_key
        ).status_code
        == 403
    )
    key_id = created.json()["id"]
    assert client.delete(f"/api/auth/keys/{key_id}", headers=_bearer(ann)).status_code == 204
    assert client.get("/api/notes", headers=as_key).status_code == 401


def test_cookie_session_needs_csrf_for_unsafe_methods(client):
    _signup(client)
    login = client.post(
        "/api/auth/users/session", json={"email": "ann@example.com", "password": PASSWORD}
    )
    assert login.status_code == 200
    cookie = login.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookie if c.startswith("bf_session="))
    assert "HttpOnly" in session_cookie and "SameSite=lax" in session_cookie
    csrf = login.json()["csrf_token"]
    assert client.get("/api/auth/me").status_code == 200
    assert client.post("/api/notes", json={"text": "x"}).status_code == 403
    ok = client.post("/api/notes", json={"text": "x"}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201
    assert client.delete("/api/auth/users/session").status_code == 204
    assert client.get("/api/auth/me").status_code == 401


def test_totp_second_factor(client):
    tokens = _signup(client)
    setup = client.post("/api/auth/users/totp/setup", json={}, headers=_bearer(tokens)).json()
    assert setup["otpauth_uri"].startswith("otpauth://totp/")
    code = pyotp.TOTP(setup["secret"]).now()
    assert (
        client.post(
            "/api/auth/users/totp/enable", json={"code": code}, headers=_bearer(tokens)
        ).status_code
        == 204
    )
    without = client.post(
        "/api/auth/users/login", json={"email": "ann@example.com", "password": PASSWORD}
    )
    assert without.status_code == 401 and without.json()["type"].endswith("mfa-required")
    wrong = client.post(
        "/api/auth/users/login",
        json={"email": "ann@example.com", "password": PASSWORD, "totp": "000000"},
    )
    assert wrong.status_code == 401
    ok = client.post(
        "/api/auth/users/login",
        json={
            "email": "ann@example.com",
            "password": PASSWORD,
            "totp": pyotp.TOTP(setup["secret"]).now(),
        },
    )
    assert ok.status_code == 200
    _assert_no_secrets(ok.text)
    assert setup["secret"] not in ok.text


def _mail(client, mailer) -> list:
    """The mails sent so far (they are looked up and sent after the answer)."""
    client.app.auth.flows.background.wait(10)
    return mailer.sent


def _last_token(client, mailer) -> str:
    body = _mail(client, mailer)[-1].get_content()
    return body.split("\n\n")[1].strip().rsplit("=", 1)[-1].split()[-1]


def test_password_reset_is_single_use_and_reveals_nothing(client, mailer):
    _signup(client)
    unknown = client.post(
        "/api/auth/users/request-password-reset", json={"email": "nobody@example.com"}
    )
    known = client.post("/api/auth/users/request-password-reset", json={"email": "ann@example.com"})
    assert unknown.status_code == known.status_code == 202 and unknown.json() == known.json()
    assert [m["To"] for m in _mail(client, mailer)] == ["ann@example.com"]
    token = _last_token(client, mailer)
    new = "a brand new passphrase"
    reset = client.post("/api/auth/users/reset-password", json={"token": token, "password": new})
    assert reset.status_code == 204
    again = client.post("/api/auth/users/reset-password", json={"token": token, "password": new})
    assert again.status_code == 400
    assert (
        client.post(
            "/api/auth/users/login", json={"email": "ann@example.com", "password": new}
        ).status_code
        == 200
    )
    assert (
        client.post(
            "/api/auth/users/login", json={"email": "ann@example.com", "password": PASSWORD}
        ).status_code
        == 401
    )


def test_email_verification(client, mailer):
    tokens = _signup(client)
    client.post("/api/auth/users/request-verification", json={"email": "ann@example.com"})
    token = _last_token(client, mailer)
    assert client.post("/api/auth/users/verify", json={"token": token}).status_code == 204
    assert client.get("/api/auth/me", headers=_bearer(tokens)).json()["verified"] is True
    assert client.post("/api/auth/users/verify", json={"token": token}).status_code == 400


def test_configurable_scheme_word(make_client, monkeypatch):
    monkeypatch.setenv("BACKFORGE_JWT_KEYS", KEY_NEW)
    client = make_client({**USERS, "settings": {"auth_scheme": "Token"}})
    tokens = _signup(client)
    token = tokens["access_token"]
    assert (
        client.get("/api/auth/me", headers={"Authorization": f"Token {token}"}).status_code == 200
    )
    assert (
        client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    )


def test_nul_characters_in_auth_bodies_are_client_errors(client):
    for path, body in (
        ("/api/auth/users/login", {"email": "a\u0000@example.com", "password": "x" * 12}),
        ("/api/auth/users/request-password-reset", {"email": "n\u0004T\u0000"}),
        ("/api/auth/users/signup", {"email": "a\u0000@example.com", "password": "x" * 12}),
    ):
        response = client.post(path, json=body)
        assert response.status_code == 422, (path, response.text)


def test_the_longest_identity_is_throttled_like_any_other(client):
    email = "a" * 64 + "@" + "b" * 180 + ".com"
    response = client.post("/api/auth/users/login", json={"email": email, "password": "x" * 12})
    assert response.status_code == 401


def test_signup_without_a_view_rule_answers_tokens_and_no_record(make_client, mailer):
    closed = {"name": "closed", "collections": {"members": {"auth": {"signup": "open"}}}}
    client = make_client(closed, mailer=mailer)
    body = {"email": "ann@example.com", "password": PASSWORD}
    response = client.post("/api/auth/members/signup", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["record"] is None
    me = {"Authorization": f"Bearer {response.json()['access_token']}"}
    login = client.post("/api/auth/members/login", json=body)
    assert login.status_code == 200 and login.json()["record"] is None
    assert client.get("/api/members", headers=me).status_code == 403


def test_an_address_is_one_account_whatever_its_case(client, mailer):
    alice = _signup(client, "alice@example.com")
    for taken in ("ALICE@example.com", "Alice@Example.COM"):
        again = client.post("/api/auth/users/signup", json={"email": taken, "password": PASSWORD})
        assert again.status_code == 409, (taken, again.text)
    bob = _signup(client, "Bob@Example.COM")
    assert bob["record"]["email"] == "bob@example.com"
    for identity in ("bob@example.com", "BOB@EXAMPLE.COM"):
        login = client.post("/api/auth/users/login", json={"email": identity, "password": PASSWORD})
        assert login.status_code == 200 and login.json()["record"]["id"] == bob["record"]["id"]
    # A changed address is stored in lower case too, and taken whatever its case.
    url = f"/api/users/{alice['record']['id']}"
    moved = client.patch(url, json={"email": "Carol@Example.com"}, headers=_bearer(alice))
    assert moved.status_code == 200 and moved.json()["email"] == "carol@example.com"
    taken = client.patch(url, json={"email": "BOB@example.com"}, headers=_bearer(alice))
    assert taken.status_code == 409
    again = client.post(
        "/api/auth/users/signup", json={"email": "CAROL@example.com", "password": PASSWORD}
    )
    assert again.status_code == 409
    reset = client.post(
        "/api/auth/users/request-password-reset", json={"email": "CAROL@EXAMPLE.com"}
    )
    assert reset.status_code == 202
    assert [m["To"] for m in _mail(client, mailer)] == ["carol@example.com"]


def _session(client, email="ann@example.com", password=PASSWORD) -> dict[str, str]:
    """A cookie session of its own browser: the headers that browser sends on unsafe requests."""
    login = client.post("/api/auth/users/session", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    token = login.cookies["bf_session"]
    client.cookies.clear()  # each browser sends its own cookie, below
    return {"Cookie": f"bf_session={token}", "X-CSRF-Token": login.json()["csrf_token"]}


def test_a_password_change_or_reset_ends_the_other_logins_cookie_sessions_too(client, mailer):
    tokens = _signup(client)
    here, elsewhere = _session(client), _session(client)
    changed = client.post(
        "/api/auth/users/password",
        json={"old_password": PASSWORD, "new_password": "a new passphrase"},
        headers=here,
    )
    assert changed.status_code == 204, changed.text
    assert client.get("/api/auth/me", headers=here).status_code == 200  # the one asking stays
    assert client.get("/api/auth/me", headers=elsewhere).status_code == 401
    refresh = client.post(
        "/api/auth/users/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refresh.status_code == 400

    client.post("/api/auth/users/request-password-reset", json={"email": "ann@example.com"})
    reset = client.post(
        "/api/auth/users/reset-password",
        json={"token": _last_token(client, mailer), "password": "yet another passphrase"},
    )
    assert reset.status_code == 204
    assert client.get("/api/auth/me", headers=here).status_code == 401


class _Held:
    """Stands in for the flows' background worker: keeps the work until the test runs it."""

    def __init__(self):
        self.work = []

    def submit(self, function, *args):
        self.work.append((function, args))

    def run(self):
        for function, args in self.work:
            function(*args)


@pytest.mark.parametrize(
    ("path", "subject"),
    [("request-password-reset", "Reset your password"), ("request-verification", "Verify")],
)
def test_a_mail_request_does_the_same_work_for_a_known_and_an_unknown_address(
    client, mailer, monkeypatch, path, subject
):
    from sqlalchemy import event

    _signup(client)
    flows = client.app.auth.flows
    held = _Held()
    monkeypatch.setattr(flows, "background", held, raising=False)
    calls = []
    for name in ("_account", "_issue"):
        original = getattr(flows, name)
        monkeypatch.setattr(
            flows, name, lambda *args, _f=original, _n=name: calls.append(_n) or _f(*args)
        )
    statements = []
    engine = client.app.engine

    def count(_connection, _cursor, statement, *_rest):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        done = {}
        for email in ("nobody@example.com", "ann@example.com"):
            marks = len(statements), len(calls), len(mailer.sent), len(held.work)
            response = client.post(f"/api/auth/users/{path}", json={"email": email})
            done[email] = (
                response.status_code,
                response.json(),
                statements[marks[0] :],
                calls[marks[1] :],
                mailer.sent[marks[2] :],
                [function.__name__ for function, _ in held.work[marks[3] :]],
            )
    finally:
        event.remove(engine, "before_cursor_execute", count)
    # On the way to the answer: no statement, no lookup, no token, no mail, for either address;
    # the same work queued for both.
    assert done["nobody@example.com"] == done["ann@example.com"]
    assert done["ann@example.com"][2:5] == ([], [], [])
    assert len(done["ann@example.com"][5]) == 1
    held.run()
    assert calls == ["_account", "_account", "_issue"]
    assert [(m["To"], m["Subject"].split()[0]) for m in mailer.sent] == [
        ("ann@example.com", subject.split()[0])
    ]


def test_tokens_from_a_declared_header_or_cookie_and_renamed_session_cookies(make_client):
    """settings.token_header / token_cookie carry an access token; cookie names are settable."""
    client = make_client(
        {
            "name": "tokens",
            "settings": {
                "token_header": "X-Access-Token",
                "token_cookie": "jwt",
                "session_cookie": "sid",
                "csrf_cookie": "xsrf",
            },
            "collections": {
                "users": {"auth": True, "fields": {}, "rules": {"view": "id = auth.id"}},
                "notes": {
                    "fields": {"text": {"type": "text"}},
                    "rules": {"list": "auth.id != null", "create": "auth.id != null"},
                },
            },
        }
    )
    signed = client.post(
        "/api/auth/users/signup", json={"email": "t@example.org", "password": "long enough pass"}
    ).json()
    token = signed["access_token"]
    by_header = {"X-Access-Token": token}
    assert client.post("/api/notes", json={"text": "a"}).status_code == 403
    assert client.post("/api/notes", json={"text": "a"}, headers=by_header).status_code == 201
    assert client.get("/api/notes").json()["items"] == []
    assert len(client.get("/api/notes", headers=by_header).json()["items"]) == 1
    assert client.get("/api/notes", headers={"X-Access-Token": "forged"}).status_code == 401
    by_cookie = {"Cookie": f"jwt={token}"}
    assert len(client.get("/api/notes", headers=by_cookie).json()["items"]) == 1
    # Unsafe with the cookie alone: 403 (a page elsewhere could send it); echoed: allowed.
    alone = client.post("/api/notes", json={"text": "x"}, headers=by_cookie)
    assert alone.status_code == 403
    echoed = client.post(
        "/api/notes", json={"text": "x"}, headers={**by_cookie, "X-CSRF-Token": token}
    )
    assert echoed.status_code == 201
    session = client.post(
        "/api/auth/users/session", json={"email": "t@example.org", "password": "long enough pass"}
    )
    assert session.status_code == 200
    assert {"sid", "xsrf"} <= set(session.cookies)
    schemes = client.get("/api/openapi.json").json()["components"]["securitySchemes"]
    assert schemes["session"]["name"] == "sid"
    assert schemes["tokenHeader"] == {"type": "apiKey", "in": "header", "name": "X-Access-Token"}


def test_a_token_whose_key_id_is_not_ascii_is_refused_not_crashed_on(shop):
    import base64
    import json

    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    forged = ".".join([part({"alg": "HS256", "kid": "ü"}), part({"sub": "x"}), "c2ln"])
    response = shop.get("/api/auth/me", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
