"""OpenID Connect login end to end, against a real OIDC provider started on 127.0.0.1
(`oidc-provider-mock`: Flask + Authlib, RS256 ID tokens, JWKS, discovery) and backforge served
over real HTTP: by uvicorn in a thread on each database, and by a `backforge serve` process.

The browser is httpx: it follows backforge's redirect to the provider's authorization page,
approves there as a chosen subject (whose claims the test set on the provider), and follows the
provider's redirect back to backforge's callback."""

from __future__ import annotations

import base64
import datetime as dt
import json
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
import uvicorn
import werkzeug.serving
from cryptography.hazmat.primitives.asymmetric import rsa
from pyotp import TOTP
from sqlalchemy import func, select

from backforge import App
from backforge.auth.errors import AuthError
from backforge.auth.oauth import OAuthClient
from backforge.database import create_database_engine
from backforge.spec.model import OAuthProvider
from backforge.store.caller import Caller

oidc_provider_mock = pytest.importorskip("oidc_provider_mock")

PASSWORD = "correct horse battery"
SECRET_VARIABLE = "BF_TEST_OIDC_SECRET"
APP_PAGE = "http://app.example/signed-in"
# The account decisions and the state run on both databases; the rest, which touches the
# database the same way, on SQLite only (each test serves a fresh app).
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    """A real OpenID provider on a free port of 127.0.0.1; its issuer URL."""
    app = oidc_provider_mock.app(require_nonce=True)
    server = werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


def person(provider: str, subject: str, **claims) -> str:
    """Make `subject` known to the provider with these claims (email, email_verified, name)."""
    response = httpx.put(f"{provider}/users/{subject}", json=claims)
    assert response.status_code == 204, response.text
    return subject


def declaration(provider: str, signup: str = "open") -> dict:
    return {
        "name": "oauthshop",
        "collections": {
            "customers": {
                "auth": {
                    "signup": signup,
                    "oauth": {
                        "local": {
                            "issuer": provider,
                            "client_id": "backforge-test",
                            "client_secret_env": SECRET_VARIABLE,
                        }
                    },
                },
                "fields": {"name": {"type": "text", "required": True, "max_length": 120}},
                "rules": {"view": "id = auth.id", "update": "id = auth.id"},
            }
        },
    }


class ThreadedApp:
    """An App served by uvicorn in a thread on a free port: real HTTP, in this process."""

    def __init__(self, app: App, port: int):
        self.app = app
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadedApp:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def serve(db_url, provider, monkeypatch):
    """serve(signup=...) -> a running backforge (ThreadedApp) on this test's database."""
    running = []
    monkeypatch.setenv(SECRET_VARIABLE, "s3cret-of-the-test-client")
    monkeypatch.setenv("BACKFORGE_RATE_LIMITS__AUTH", "1000/minute")
    monkeypatch.setenv("BACKFORGE_OAUTH_REDIRECTS", f"{APP_PAGE},http://app.example/other")

    def make(signup: str = "open", public_url: str | None = None) -> ThreadedApp:
        port = free_port()
        monkeypatch.setenv("BACKFORGE_PUBLIC_URL", public_url or f"http://127.0.0.1:{port}")
        engine = create_database_engine(db_url)
        app = App.from_dict(declaration(provider, signup), engine)
        app.store.metadata.create_all(engine)
        served = ThreadedApp(app, port).__enter__()
        running.append((served, engine))
        return served

    yield make
    for served, engine in running:
        served.__exit__()
        engine.dispose()


def browser() -> httpx.Client:
    """A fresh browser: its own cookie jar, no redirects followed behind the test's back."""
    return httpx.Client(timeout=15, follow_redirects=False)


def to_provider(client: httpx.Client, start_url: str) -> str:
    """Open the login link; answer the provider's authorization URL it redirects to."""
    response = client.get(start_url)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    query = parse_qs(urlsplit(location).query)
    assert query["code_challenge_method"] == ["S256"]
    assert {"state", "nonce", "code_challenge", "redirect_uri"} <= set(query)
    assert "openid" in query["scope"][0].split()
    return location


def approve(client: httpx.Client, authorize_url: str, subject: str) -> str:
    """On the provider's page, authorize as `subject`; answer the callback URL it sends to."""
    page = client.get(authorize_url)
    assert page.status_code == 200 and 'name="sub"' in page.text
    response = client.post(authorize_url, data={"sub": subject})
    assert response.status_code == 302, response.text
    return response.headers["location"]


def oauth_login(server_url: str, subject: str, client: httpx.Client | None = None, **params):
    """The whole browser round trip; the response of backforge's callback."""
    client = client or browser()
    start = f"{server_url}/api/auth/customers/oauth/local"
    authorize = to_provider(client, str(httpx.URL(start, params=params)))
    return client.get(approve(client, authorize, subject))


def signup(server_url: str, email: str, name: str = "Someone") -> dict:
    response = httpx.post(
        f"{server_url}/api/auth/customers/signup",
        json={"email": email, "password": PASSWORD, "name": name},
    )
    assert response.status_code == 201, response.text
    return response.json()


def me(server_url: str, tokens: dict) -> dict:
    response = httpx.get(
        f"{server_url}/api/auth/me",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert response.status_code == 200, response.text
    return response.json()


def identities(served: ThreadedApp) -> list[tuple]:
    table = served.app.store.metadata.tables["_bf_auth_identities"]
    with served.app.engine.connect() as connection:
        rows = connection.execute(select(table.c.provider, table.c.subject, table.c.user_id))
        return [tuple(row) for row in rows]


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return response.json()


# -- accounts --------------------------------------------------------------------------------


def test_first_login_creates_an_account_and_the_next_one_reuses_its_identity(serve, provider):
    served = serve()
    subject = person(provider, "ann-1", email="Ann@Example.com", email_verified=True, name="Ann")

    first = oauth_login(served.url, subject)
    assert first.status_code == 200, first.text
    assert first.headers["cache-control"] == "no-store"
    tokens = first.json()
    assert tokens["token_type"] == "Bearer" and tokens["refresh_token"].startswith("bfr_")
    record = tokens["record"]
    assert record["email"].lower() == "ann@example.com" and record["name"] == "Ann"
    assert record["verified"] is True  # the provider verified the address
    assert me(served.url, tokens)["id"] == record["id"]
    assert "password_hash" not in first.text

    # Another browser, another day: the same identity logs in to the same account.
    second = oauth_login(served.url, subject)
    assert second.status_code == 200, second.text
    assert second.json()["record"]["id"] == record["id"]
    assert identities(served) == [("local", subject, record["id"])]

    # The refresh token of an OAuth login rotates like any other.
    refreshed = httpx.post(
        f"{served.url}/api/auth/customers/refresh",
        json={"refresh_token": second.json()["refresh_token"]},
    )
    assert refreshed.status_code == 200 and refreshed.json()["record"]["id"] == record["id"]


@sqlite_only
def test_an_unverified_provider_email_makes_an_unverified_account(serve, provider):
    served = serve()
    subject = person(provider, "dan-1", email="dan@example.com", email_verified=False)
    response = oauth_login(served.url, subject)
    assert response.status_code == 200, response.text
    record = response.json()["record"]
    assert record["verified"] is False
    assert record["name"] == "dan"  # no name claim: the email's local part fills the field


def test_a_verified_email_links_to_the_existing_account(serve, provider):
    served = serve()
    existing = signup(served.url, "bob@example.com", name="Bob")["record"]
    assert existing["verified"] is False
    subject = person(provider, "bob-1", email="BOB@example.com", email_verified=True, name="B")

    response = oauth_login(served.url, subject)
    assert response.status_code == 200, response.text
    record = response.json()["record"]
    assert record["id"] == existing["id"] and record["name"] == "Bob"
    assert record["verified"] is True
    assert identities(served) == [("local", subject, existing["id"])]
    # The password was set by someone who never proved the address (it could have been an
    # attacker waiting for the owner): it ends when the provider proves it.
    login = httpx.post(
        f"{served.url}/api/auth/customers/login",
        json={"email": "bob@example.com", "password": PASSWORD},
    )
    assert_problem(login, 401)


def test_an_unverified_email_never_links_to_an_existing_account(serve, provider):
    served = serve()
    existing = signup(served.url, "carol@example.com", name="Carol")["record"]
    for subject, claims in [
        ("mallory-1", {"email": "carol@example.com", "email_verified": False}),
        ("mallory-2", {"email": "carol@example.com"}),  # no email_verified claim at all
        ("mallory-3", {"email": "carol@example.com", "email_verified": "no"}),
    ]:
        person(provider, subject, **claims)
        problem = assert_problem(oauth_login(served.url, subject), 403)
        assert "verified" in problem["detail"]
    assert identities(served) == []
    # The owner's password still works and the account is untouched.
    login = httpx.post(
        f"{served.url}/api/auth/customers/login",
        json={"email": "carol@example.com", "password": PASSWORD},
    )
    assert login.status_code == 200 and login.json()["record"]["id"] == existing["id"]


@sqlite_only
def test_closed_sign_up_refuses_unknown_identities_but_links_verified_ones(serve, provider):
    served = serve(signup="closed")
    person(provider, "eve-1", email="eve@example.com", email_verified=True)
    problem = assert_problem(oauth_login(served.url, "eve-1"), 403)
    assert "closed" in problem["detail"]
    users = served.app.store.metadata.tables["customers"]
    with served.app.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(users)).scalar() == 0

    # An account an admin made is still reachable through a verified address.
    made = served.app.store.create(
        "customers", Caller(), {"email": "eve@example.com", "name": "Eve"}, trusted=True
    )
    response = oauth_login(served.url, "eve-1")
    assert response.status_code == 200, response.text
    assert response.json()["record"]["id"] == made["id"]


# -- state -----------------------------------------------------------------------------------


def test_state_is_single_use_bound_to_the_browser_and_unforgeable(serve, provider):
    served = serve()
    subject = person(provider, "fay-1", email="fay@example.com", email_verified=True)
    client = browser()
    authorize = to_provider(client, f"{served.url}/api/auth/customers/oauth/local")
    callback = approve(client, authorize, subject)
    state = parse_qs(urlsplit(callback).query)["state"][0]

    # Another browser (a victim lured to the attacker's callback link) lacks the state cookie.
    assert_problem(browser().get(callback), 400)
    # A forged state, even with a matching cookie, was never issued.
    forged = callback.replace(state, "forged-" + state[7:])
    forger = browser()
    forger.cookies.set("bf_oauth_state", "forged-" + state[7:])
    assert_problem(forger.get(forged), 400)

    assert client.get(callback).status_code == 200  # the real one, once
    client.cookies.set("bf_oauth_state", state)  # the browser replays it, cookie and all
    assert_problem(client.get(callback), 400)

    # A state that no callback used expires after ten minutes.
    other = browser()
    to_provider(other, f"{served.url}/api/auth/customers/oauth/local")
    table = served.app.store.metadata.tables["_bf_auth_oauth_states"]
    old = other.cookies["bf_oauth_state"]
    with served.app.engine.begin() as connection:
        created = connection.execute(select(table.c.created).where(table.c.state == old)).scalar()
        ten_minutes_ago = created - dt.timedelta(minutes=10, seconds=1)
        statement = table.update().where(table.c.state == old).values(created=ten_minutes_ago)
        connection.execute(statement)
    problem = assert_problem(other.get(callback.replace(state, old)), 400)
    assert "too long" in problem["detail"]


@sqlite_only
def test_a_denied_authorization_and_unknown_providers_are_problems(serve, provider):
    served = serve()
    client = browser()
    authorize = to_provider(client, f"{served.url}/api/auth/customers/oauth/local")
    denied = client.post(authorize, data={"action": "deny"})
    assert denied.status_code == 302
    assert "error=access_denied" in denied.headers["location"]
    # This provider leaves the state out of its refusal: nothing ties it to a login.
    assert_problem(client.get(denied.headers["location"]), 400)
    # With the state, as RFC 6749 has it, the refusal is told as such (and the state spent).
    state = parse_qs(urlsplit(authorize).query)["state"][0]
    callback = f"{served.url}/api/auth/customers/oauth/local/callback"
    refused = client.get(callback, params={"error": "access_denied", "state": state})
    assert "access_denied" in assert_problem(refused, 403)["detail"]
    assert_problem(client.get(callback, params={"code": "x", "state": state}), 400)

    assert_problem(browser().get(f"{served.url}/api/auth/customers/oauth/github"), 404)
    assert_problem(browser().get(f"{callback}?code=x"), 400)


def test_a_login_started_at_one_process_finishes_at_another(serve, provider):
    """Two app processes behind one public URL, sharing the database: the state is there."""
    first = serve()
    second = serve(public_url=first.url)
    subject = person(provider, "lee-1", email="lee@example.com", email_verified=True)
    client = browser()
    callback = approve(
        client, to_provider(client, f"{first.url}/api/auth/customers/oauth/local"), subject
    )
    assert callback.startswith(first.url)
    response = client.get(second.url + callback.removeprefix(first.url))
    assert response.status_code == 200, response.text
    assert me(second.url, response.json())["email"] == "lee@example.com"
    # ...and it was spent for both.
    client.cookies.set("bf_oauth_state", parse_qs(urlsplit(callback).query)["state"][0])
    assert_problem(client.get(callback), 400)


# -- redirect to an app page -----------------------------------------------------------------


@sqlite_only
def test_a_redirect_to_an_allowed_page_carries_a_single_use_exchange_code(serve, provider):
    served = serve()
    subject = person(provider, "gus-1", email="gus@example.com", email_verified=True)
    refused = browser().get(
        f"{served.url}/api/auth/customers/oauth/local",
        params={"redirect": "http://evil.example/steal"},
    )
    assert_problem(refused, 400)

    response = oauth_login(served.url, subject, redirect=APP_PAGE)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(APP_PAGE + "#code=bfo_")
    assert "access_token" not in location and "refresh_token" not in location
    code = parse_qs(urlsplit(location).fragment)["code"][0]

    exchange = f"{served.url}/api/auth/customers/oauth/exchange"
    tokens = httpx.post(exchange, json={"code": code})
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["record"]["email"] == "gus@example.com"
    assert_problem(httpx.post(exchange, json={"code": code}), 400)


# -- a real `backforge serve` process ---------------------------------------------------------


# The flows above run in-process on both databases; the process runs once, on PostgreSQL.
@pytest.mark.parametrize(
    "db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_oauth_login_through_a_backforge_serve_process(make_server, provider, tmp_path):
    decl = declaration(provider)
    settings = decl["collections"]["customers"]["auth"]["oauth"]["local"]
    settings["client_id_env"] = "BF_TEST_OIDC_CLIENT"
    del settings["client_id"]
    server = make_server("shop.yaml")  # on this test's database; then our own declaration
    server.declaration = tmp_path / "oauthshop.yaml"
    server.declaration.write_text(json.dumps(decl))  # JSON is YAML
    server.environment.update(
        {
            SECRET_VARIABLE: "s3cret-of-the-test-client",
            "BF_TEST_OIDC_CLIENT": "backforge-serve-test",
            "BACKFORGE_PUBLIC_URL": server.url,
            "BACKFORGE_JWT_SECRET": "x" * 40,
            "BACKFORGE_RATE_LIMITS__AUTH": "1000/minute",
        }
    )
    server.start("--dev")

    subject = person(provider, "hal-1", email="hal@example.com", email_verified=True, name="Hal")
    first = oauth_login(server.url, subject)
    assert first.status_code == 200, first.text
    again = oauth_login(server.url, subject)
    assert again.json()["record"]["id"] == first.json()["record"]["id"]
    assert me(server.url, again.json())["email"] == "hal@example.com"
    # Replaying the callback (state spent) is refused by the process as well.
    client = browser()
    authorize = to_provider(client, f"{server.url}/api/auth/customers/oauth/local")
    callback = approve(client, authorize, subject)
    assert client.get(callback).status_code == 200
    client.cookies.set("bf_oauth_state", parse_qs(urlsplit(callback).query)["state"][0])
    assert_problem(client.get(callback), 400)


# -- the ID token ----------------------------------------------------------------------------


def provider_tokens(provider: str, subject: str, client_id: str, nonce: str) -> dict:
    """Tokens straight from the provider's endpoints, the test acting as a client."""
    redirect_uri = "http://127.0.0.1:9/callback"
    authorize = httpx.post(
        f"{provider}/oauth2/authorize",
        params={
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid email",
            "state": "test",
            "nonce": nonce,
        },
        data={"sub": subject},
    )
    code = parse_qs(urlsplit(authorize.headers["location"]).query)["code"][0]
    token = httpx.post(
        f"{provider}/oauth2/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
        auth=(client_id, "any"),
    )
    assert token.status_code == 200, token.text
    return token.json()


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _unb64(part: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


@sqlite_only
def test_only_an_id_token_signed_by_the_provider_for_this_client_and_login_passes(serve, provider):
    login = serve().app.auth.oauth
    client = login.client("customers", "local")
    subject = person(provider, "ivy-1", email="ivy@example.com", email_verified=True)
    token = provider_tokens(provider, subject, "backforge-test", nonce="nonce-1")
    assert login._identity(client, token, "nonce-1").subject == subject

    header, payload, signature = token["id_token"].split(".")
    claims = _unb64(payload)
    # A key of the attacker's, under the id of the provider's key.
    provider_kid = httpx.get(f"{provider}/jwks").json()["keys"][0]["kid"]
    foreign = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forgeries = {
        "another login's nonce": token,
        "another client's token": provider_tokens(provider, subject, "someone-else", "nonce-1"),
        "altered claims": {
            **token,
            "id_token": f"{header}.{_b64({**claims, 'email': 'x@evil.example'})}.{signature}",
        },
        "unsigned": {
            **token,
            "id_token": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        },
        "signed with a key that is not the provider's": {
            **token,
            "id_token": jwt.encode(claims, foreign, "RS256", {"kid": provider_kid}),
        },
        "signed with a key that is not the provider's, without a key id": {
            **token,
            "id_token": jwt.encode(
                claims, rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"
            ),
        },
        # The same provider addressed by another name signs with its key, as another issuer.
        "another issuer": provider_tokens(
            provider.replace("127.0.0.1", "localhost"), subject, "backforge-test", "nonce-1"
        ),
    }
    other_issuer = _unb64(forgeries["another issuer"]["id_token"].split(".")[1])["iss"]
    assert other_issuer != claims["iss"]
    for what, forged in forgeries.items():
        nonce = "nonce-2" if what == "another login's nonce" else "nonce-1"
        with pytest.raises(AuthError) as refused:
            login._identity(client, forged, nonce)
        assert refused.value.status == 401, what


@pytest.fixture(scope="module")
def stale_provider() -> Iterator[str]:
    """A provider whose ID tokens expired ten minutes before they were issued."""
    app = oidc_provider_mock.app(access_token_max_age=dt.timedelta(minutes=-10))
    server = werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


@sqlite_only
def test_an_expired_id_token_is_refused(db_url, stale_provider, monkeypatch):
    monkeypatch.setenv(SECRET_VARIABLE, "s3cret-of-the-test-client")
    port = free_port()
    monkeypatch.setenv("BACKFORGE_PUBLIC_URL", f"http://127.0.0.1:{port}")
    engine = create_database_engine(db_url)
    app = App.from_dict(declaration(stale_provider), engine)
    app.store.metadata.create_all(engine)
    person(stale_provider, "jay-1", email="jay@example.com", email_verified=True)
    with ThreadedApp(app, port) as served:
        problem = assert_problem(oauth_login(served.url, "jay-1"), 401)
        assert "did not validate" in problem["detail"]
    engine.dispose()


# -- a second factor -------------------------------------------------------------------------


@sqlite_only
def test_an_account_with_totp_still_needs_its_code_after_the_provider(serve, provider):
    served = serve()
    tokens = signup(served.url, "kim@example.com", name="Kim")
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    base = f"{served.url}/api/auth/customers"
    secret = httpx.post(f"{base}/totp/setup", headers=bearer).json()["secret"]
    enabled = httpx.post(f"{base}/totp/enable", headers=bearer, json={"code": TOTP(secret).now()})
    assert enabled.status_code == 204, enabled.text
    users = served.app.store.metadata.tables["customers"]
    with served.app.engine.begin() as connection:  # an address the owner proved by mail
        connection.execute(users.update().values(verified=True))
    subject = person(provider, "kim-1", email="kim@example.com", email_verified=True)

    problem = assert_problem(oauth_login(served.url, subject), 401)
    assert problem["type"].endswith("mfa-required") and "access_token" not in problem
    wrong = httpx.post(f"{base}/oauth/exchange", json={"code": problem["code"], "totp": "000000"})
    assert_problem(wrong, 401)
    assert_problem(  # the code was spent by the wrong attempt
        httpx.post(f"{base}/oauth/exchange", json={"code": problem["code"], "totp": "1"}), 400
    )

    problem = assert_problem(oauth_login(served.url, subject), 401)
    good = httpx.post(
        f"{base}/oauth/exchange", json={"code": problem["code"], "totp": TOTP(secret).now()}
    )
    assert good.status_code == 200, good.text
    assert good.json()["record"]["id"] == tokens["record"]["id"]


# -- configuration ---------------------------------------------------------------------------


def test_presets_fill_the_issuer_and_secrets_come_only_from_the_environment():
    declared = OAuthProvider(preset="google", client_id="id", client_secret_env="BF_NO_SUCH_VAR")
    client = OAuthClient.resolve("users", "google", declared, "https://api.example", {})
    assert client.issuer == "https://accounts.google.com"
    assert client.callback_url == "https://api.example/api/auth/users/oauth/google/callback"
    assert client.client_secret is None and "BF_NO_SUCH_VAR" in client.problem

    environment = {"BF_ID": "from-env", "BF_SECRET": "s"}
    for preset, issuer in [
        ("microsoft", "https://login.microsoftonline.com/common/v2.0"),
        ("gitlab", "https://gitlab.com"),
    ]:
        declared = OAuthProvider(
            preset=preset, client_id_env="BF_ID", client_secret_env="BF_SECRET", scopes=["email"]
        )
        client = OAuthClient.resolve("users", preset, declared, "https://api.example", environment)
        assert (client.issuer, client.client_id, client.client_secret) == (issuer, "from-env", "s")
        assert client.problem is None and client.scopes == ("openid", "email")
    # An explicit issuer wins over the preset (a self-hosted GitLab).
    declared = OAuthProvider(preset="gitlab", issuer="https://git.example/", client_id="x")
    assert OAuthClient.resolve("u", "g", declared, "", {}).issuer == "https://git.example"


@sqlite_only
def test_a_provider_without_its_secret_is_unavailable_not_broken(db_url, monkeypatch):
    monkeypatch.delenv(SECRET_VARIABLE, raising=False)
    engine = create_database_engine(db_url)
    app = App.from_dict(declaration("https://sso.invalid"), engine)
    app.store.metadata.create_all(engine)
    port = free_port()
    with ThreadedApp(app, port) as served:
        response = browser().get(f"{served.url}/api/auth/customers/oauth/local")
        problem = assert_problem(response, 503)
        assert SECRET_VARIABLE not in problem["detail"]  # the operator's business, in the log
        assert browser().post(f"{served.url}/api/auth/customers/login", json={}).status_code == 422
    engine.dispose()
