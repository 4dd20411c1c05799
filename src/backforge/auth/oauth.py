"""Login through OpenID Connect providers (authorization code flow with PKCE), with Authlib.

A provider is declared per auth collection (`auth: {oauth: {google: {preset: google, ...}}}`).
The flow:

1. `start` stores a state (with the PKCE verifier and the nonce) in `_bf_auth_oauth_states`,
   which every process shares, and answers the provider's authorization URL.
2. `finish` spends the state (single use, ten minutes), exchanges the code, validates the ID
   token (signature by the provider's JWKS, iss, aud, nonce, exp) and finds the account: the
   one already linked to (provider, subject); else the one with the same email, but only when
   the provider says the address is verified; else a new one when sign-up is open.

Client secrets come from the environment (`client_secret_env`), never from the declaration.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.common.security import generate_token, is_secure_transport
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from .. import clock
from ..spec.auth_fields import account_email
from ..spec.model import OAuthProvider
from ..store.caller import Caller
from ..store.ids import new_id
from .errors import AuthError, AuthForbidden, AuthInvalid
from .id_tokens import (
    IdTokenInvalid,
    SigningKey,
    UnknownKeyId,
    load_key_set,
    same_text,
    verify_id_token,
)
from .one_time import take_one_time_token
from .service import AuthService, Tokens
from .tables import AUTH_TABLE_PREFIX
from .tokens import digest, new_secret
from .totp import code_accepted

logger = logging.getLogger("backforge.auth.oauth")

PRESETS = {
    "google": "https://accounts.google.com",
    # Multi-tenant: the ID token's issuer names the user's tenant (checked through `tid`).
    "microsoft": "https://login.microsoftonline.com/common/v2.0",
    "gitlab": "https://gitlab.com",
}
STATE_LIFETIME = dt.timedelta(minutes=10)
EXCHANGE_LIFETIME = dt.timedelta(minutes=2)
EXCHANGE_PURPOSE = "oauth"
# Only public-key signatures: an HS256 ID token would be checked with the client secret.
SIGNING_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
CLOCK_LEEWAY = 60
METADATA_TTL = 3600.0
KEYS_REFRESH_INTERVAL = 60.0
_TENANT = "{tenantid}"
_ERROR_CODE = re.compile(r"^[a-z_]{1,64}$")


class OAuthUnavailable(AuthError):
    """The provider is declared but cannot be used (configuration missing, provider down)."""

    status = 503
    slug = "oauth-unavailable"


class OAuthProviderError(AuthError):
    """The provider answered something that cannot be used (a refused code, a bad document)."""

    status = 502
    slug = "oauth-provider-error"


class OAuthConflict(AuthError):
    status = 409
    slug = "conflict"


class MfaOnExchange(AuthError):
    """The provider proved who this is; the account's own second factor is still asked, on the
    exchange endpoint, with the single-use code this answer carries."""

    slug = "mfa-required"

    def __init__(self, collection: str, code: str):
        super().__init__(
            "this account needs a TOTP code: send it as 'totp' with this 'code' to "
            f"POST /api/auth/{collection}/oauth/exchange",
            code=code,
        )


@dataclass(frozen=True)
class OAuthClient:
    """One declared provider of one auth collection, with its settings resolved."""

    collection: str
    name: str
    issuer: str
    client_id: str | None
    client_secret: str | None
    scopes: tuple[str, ...]
    callback_url: str
    problem: str | None  # why it cannot be used yet, in words for the operator

    @classmethod
    def resolve(
        cls,
        collection: str,
        name: str,
        declared: OAuthProvider,
        public_url: str,
        environ: Mapping[str, str],
    ) -> OAuthClient:
        issuer = (declared.issuer or PRESETS.get(declared.preset or "", "")).rstrip("/")
        client_id = declared.client_id or (
            environ.get(declared.client_id_env) if declared.client_id_env else None
        )
        secret = environ.get(declared.client_secret_env) if declared.client_secret_env else None
        problems = []
        if not issuer:
            problems.append("declare an issuer or a preset")
        if not client_id:
            problems.append(f"set client_id or the variable {declared.client_id_env or '?'}")
        if declared.client_secret_env and not secret:
            problems.append(f"set the variable {declared.client_secret_env}")
        scopes = tuple(declared.scopes)
        if "openid" not in scopes:
            scopes = ("openid", *scopes)
        return cls(
            collection=collection,
            name=name,
            issuer=issuer,
            client_id=client_id,
            client_secret=secret,
            scopes=scopes,
            callback_url=f"{public_url}/api/auth/{collection}/oauth/{name}/callback",
            problem="; ".join(problems) or None,
        )


class ProviderDirectory:
    """Discovery documents and signing keys of issuers, fetched when first needed and kept for
    an hour; keys are fetched again when a token names a key id the set does not have."""

    def __init__(self, http: httpx.Client, ttl: float = METADATA_TTL):
        self.http = http
        self.ttl = ttl
        self._metadata: dict[str, tuple[float, dict[str, Any]]] = {}
        self._keys: dict[str, tuple[float, list[SigningKey]]] = {}
        self._lock = threading.Lock()

    def metadata(self, issuer: str) -> dict[str, Any]:
        with self._lock:
            cached = self._metadata.get(issuer)
        if cached and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        document = self._get_json(issuer + "/.well-known/openid-configuration")
        announced = document.get("issuer")
        if announced != issuer and not (
            isinstance(announced, str) and _TENANT in announced and _TENANT not in issuer
        ):
            raise OAuthProviderError(
                f"the discovery document of {issuer} names another issuer ({announced!r})"
            )
        for endpoint in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            url = document.get(endpoint)
            if not isinstance(url, str) or not is_secure_transport(url):
                raise OAuthProviderError(f"the provider {issuer} has no usable {endpoint}")
        with self._lock:
            self._metadata[issuer] = (time.monotonic(), document)
        return document

    def keys(self, issuer: str, refresh: bool = False) -> list[SigningKey]:
        with self._lock:
            cached = self._keys.get(issuer)
        if cached:
            age = time.monotonic() - cached[0]
            # A token naming an unknown key fetches the set again, at most once a minute.
            if age < (KEYS_REFRESH_INTERVAL if refresh else self.ttl):
                return cached[1]
        try:
            keys = load_key_set(self._get_json(self.metadata(issuer)["jwks_uri"]))
        except (ValueError, KeyError) as exc:
            raise OAuthProviderError(f"the signing keys of {issuer} are unreadable") from exc
        with self._lock:
            self._keys[issuer] = (time.monotonic(), keys)
        return keys

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = self.http.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            document = response.json()
        except httpx.HTTPError as exc:
            logger.warning("OIDC provider unreachable at %s: %s", url, exc)
            raise OAuthUnavailable("the login provider cannot be reached; try again later") from exc
        except ValueError as exc:
            raise OAuthProviderError(f"{url} did not answer JSON") from exc
        if not isinstance(document, dict):
            raise OAuthProviderError(f"{url} did not answer a JSON object")
        return document


@dataclass(frozen=True)
class Identity:
    """What a validated ID token (and, when it lacks them, the userinfo endpoint) says."""

    subject: str
    email: str | None
    email_verified: bool
    name: str | None


@dataclass(frozen=True)
class Completed:
    """The end of a callback: tokens to answer with, or an app page to send the browser to
    (with a single-use exchange code in its fragment)."""

    tokens: Tokens | None = None
    redirect: str | None = None


class OAuthLogin:
    """The OpenID Connect login of every provider of every auth collection."""

    def __init__(
        self,
        service: AuthService,
        public_url: str,
        environ: Mapping[str, str] | None = None,
        http: httpx.Client | None = None,
    ):
        environ = os.environ if environ is None else environ
        self.service = service
        self.public_url = public_url.rstrip("/")
        self.secure_cookies = self.public_url.startswith("https://")
        self.state_lifetime = STATE_LIFETIME
        self.clients: dict[tuple[str, str], OAuthClient] = {
            (collection, name): OAuthClient.resolve(
                collection, name, declared, self.public_url, environ
            )
            for collection, options in service.options.items()
            for name, declared in options.oauth.items()
        }
        for client in self.clients.values():
            if client.problem:
                logger.warning(
                    "OAuth provider %s of %s is not usable: %s",
                    client.name,
                    client.collection,
                    client.problem,
                )
        # Exact URLs of app pages that may receive the browser after a login.
        self.allowed_redirects = frozenset(
            item.strip()
            for item in environ.get("BACKFORGE_OAUTH_REDIRECTS", "").split(",")
            if item.strip()
        )
        self.http = http or httpx.Client(timeout=10, follow_redirects=False)
        self.directory = ProviderDirectory(self.http)
        tables = service.store.metadata.tables
        self.states: Table = tables[AUTH_TABLE_PREFIX + "oauth_states"]
        self.identities: Table = tables[AUTH_TABLE_PREFIX + "identities"]
        self.revocable: list[Table] = [
            tables[AUTH_TABLE_PREFIX + name] for name in ("refresh_tokens", "sessions", "api_keys")
        ]

    def client(self, collection: str, name: str) -> OAuthClient:
        client = self.clients.get((collection, name))
        if client is None:
            raise AuthInvalid(f"{collection} has no login provider {name!r}")
        if client.problem:
            raise OAuthUnavailable(f"the login provider {name} is not configured on this server")
        return client

    # -- start -----------------------------------------------------------------------------

    def start(self, collection: str, name: str, redirect: str | None = None) -> tuple[str, str]:
        """Answer (the provider's authorization URL, the state to bind to the browser)."""
        client = self.client(collection, name)
        if redirect is not None and redirect not in self.allowed_redirects:
            raise AuthInvalid("redirect is not one of the pages in BACKFORGE_OAUTH_REDIRECTS")
        metadata = self.directory.metadata(client.issuer)
        state, nonce, verifier = generate_token(43), generate_token(43), generate_token(64)
        now = clock.now()
        with self.service.writing() as connection:
            connection.execute(
                delete(self.states).where(self.states.c.created < now - STATE_LIFETIME)
            )
            connection.execute(
                insert(self.states).values(
                    state=state,
                    collection=collection,
                    provider=name,
                    code_verifier=verifier,
                    nonce=nonce,
                    # Where the browser goes at the end: an allowed app page, or "" for JSON.
                    redirect_uri=redirect or "",
                    created=now,
                )
            )
        url = prepare_grant_uri(
            metadata["authorization_endpoint"],
            client.client_id,
            "code",
            redirect_uri=client.callback_url,
            scope=" ".join(client.scopes),
            state=state,
            nonce=nonce,
            code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256",
        )
        return url, state

    # -- callback --------------------------------------------------------------------------

    def finish(
        self, collection: str, name: str, params: Mapping[str, str], bound_state: str | None
    ) -> Completed:
        """Complete a login from the query of the provider's redirect. `bound_state` is the
        state the browser carried in its cookie: a callback from another browser is refused."""
        client = self.client(collection, name)
        state = params.get("state") or ""
        if not state or not bound_state or not same_text(state, bound_state):
            raise AuthInvalid("this login was not started in this browser, or was already used")
        row = self._take_state(collection, name, state)
        error = params.get("error")
        if error:
            code = error if _ERROR_CODE.match(error) else "error"
            raise AuthForbidden(f"the login provider did not authorize the login ({code})")
        code = params.get("code")
        if not code:
            raise AuthInvalid("the provider's answer has no code")
        token = self._exchange(client, code, row.code_verifier)
        identity = self._identity(client, token, row.nonce)
        user_id = self._account(client, identity)
        return self._complete(collection, user_id, row.redirect_uri or None)

    def _take_state(self, collection: str, name: str, state: str) -> Any:
        table = self.states
        with self.service.writing() as connection:
            row = connection.execute(select(table).where(table.c.state == state)).first()
            if row is not None:
                # Spent whatever happens next: a state serves one callback only.
                spent = connection.execute(delete(table).where(table.c.state == state))
                if spent.rowcount != 1:
                    row = None
        if row is None or row.collection != collection or row.provider != name:
            raise AuthInvalid("this login was not started here, or was already used")
        if clock.aware(row.created) + STATE_LIFETIME <= clock.now():
            raise AuthInvalid("this login took too long; start again")
        return row

    def _exchange(self, client: OAuthClient, code: str, verifier: str) -> dict[str, Any]:
        metadata = self.directory.metadata(client.issuer)
        url = metadata["token_endpoint"]
        body = prepare_token_request(
            "authorization_code",
            code=code,
            redirect_uri=client.callback_url,
            code_verifier=verifier,
        )
        methods = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        if client.client_secret is None:
            method = "none"
        elif "client_secret_basic" in methods:
            method = "client_secret_basic"
        else:
            method = "client_secret_post"
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        auth = ClientAuth(client.client_id, client.client_secret, method)
        url, headers, body = auth.prepare("POST", url, headers, body)
        try:
            response = self.http.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            logger.warning("OIDC token endpoint unreachable at %s: %s", url, exc)
            raise OAuthUnavailable("the login provider cannot be reached; try again later") from exc
        try:
            token = response.json()
        except ValueError:
            token = None
        if response.status_code != 200 or not isinstance(token, dict):
            error = token.get("error") if isinstance(token, dict) else None
            code_word = error if isinstance(error, str) and _ERROR_CODE.match(error) else "error"
            raise OAuthProviderError(f"the login provider refused the code ({code_word})")
        if not isinstance(token.get("id_token"), str):
            raise OAuthProviderError("the login provider sent no ID token")
        return token

    def _identity(self, client: OAuthClient, token: dict[str, Any], nonce: str) -> Identity:
        metadata = self.directory.metadata(client.issuer)
        announced = metadata.get("id_token_signing_alg_values_supported")
        if not isinstance(announced, list) or not announced:
            announced = ["RS256"]  # the default of OpenID Connect Discovery
        algorithms = [a for a in announced if a in SIGNING_ALGORITHMS]
        if not algorithms:
            raise OAuthProviderError(
                f"{client.issuer} signs ID tokens with no public-key algorithm"
            )

        def issuer_of(claims: dict[str, Any]) -> str:
            issuer = metadata["issuer"]
            return (
                issuer.replace(_TENANT, str(claims.get("tid", ""))) if _TENANT in issuer else issuer
            )

        def verify(keys: list[SigningKey]) -> dict[str, Any]:
            return verify_id_token(
                token["id_token"],
                keys,
                algorithms=algorithms,
                client_id=client.client_id,
                issuer_of=issuer_of,
                nonce=nonce,
                access_token=token.get("access_token"),
                leeway=CLOCK_LEEWAY,
            )

        try:
            try:
                claims = verify(self.directory.keys(client.issuer))
            except UnknownKeyId:  # the provider rotated its keys since they were fetched
                claims = verify(self.directory.keys(client.issuer, refresh=True))
        except IdTokenInvalid as exc:
            logger.warning("rejected an ID token from %s: %s", client.issuer, exc)
            raise AuthError("the identity token of the login provider did not validate") from None
        values = dict(claims)
        if (
            "email" not in values
            and metadata.get("userinfo_endpoint")
            and token.get("access_token")
        ):
            values.update(self._userinfo(metadata["userinfo_endpoint"], token, values["sub"]))
        email = values.get("email")
        name = values.get("name")
        return Identity(
            subject=str(values["sub"]),
            email=email.strip() if isinstance(email, str) and email.strip() else None,
            email_verified=values.get("email_verified") in (True, "true"),
            name=name if isinstance(name, str) and name.strip() else None,
        )

    def _userinfo(self, url: str, token: dict[str, Any], subject: str) -> dict[str, Any]:
        """Email and name from the userinfo endpoint, for providers that leave them out of the
        ID token; only when it speaks of the same subject."""
        try:
            response = self.http.get(
                url, headers={"Authorization": f"Bearer {token['access_token']}"}
            )
            info = response.json() if response.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            return {}
        if not isinstance(info, dict) or info.get("sub") != subject:
            return {}
        return {k: info[k] for k in ("email", "email_verified", "name") if k in info}

    # -- the account -----------------------------------------------------------------------

    def _account(self, client: OAuthClient, identity: Identity) -> str:
        """The id of the account this identity logs in to, linking or creating it."""
        collection = client.collection
        users = self.service.store.tables[collection]
        links = self.identities
        with self.service.reading() as connection:
            linked = connection.execute(
                select(links.c.user_id).where(
                    links.c.collection == collection,
                    links.c.provider == client.name,
                    links.c.subject == identity.subject,
                )
            ).scalar()
            if (
                linked is not None
                and connection.execute(select(users.c.id).where(users.c.id == linked)).scalar()
            ):
                return linked
        if linked is not None:  # the account was deleted since: its link goes too
            with self.service.writing() as connection:
                connection.execute(delete(links).where(links.c.user_id == linked))
        if identity.email is None:
            raise AuthForbidden(
                f"the login provider {client.name} shared no email address; "
                "allow this app to see it (scope 'email')"
            )
        with self.service.reading() as connection:
            existing = connection.execute(
                select(users.c.id, users.c.verified).where(
                    users.c.email == account_email(identity.email)
                )
            ).first()
        if existing is not None:
            if not identity.email_verified:
                raise AuthForbidden(
                    f"an account with this email exists, and {client.name} does not say the "
                    "address is verified, so it cannot be linked: log in with your password"
                )
            self._link_existing(client, identity, existing.id, bool(existing.verified))
            return existing.id
        return self._create(client, identity)

    def _link_existing(
        self, client: OAuthClient, identity: Identity, user_id: str, verified: bool
    ) -> None:
        users = self.service.store.tables[client.collection]
        with self._linking(client) as connection:
            self._insert_link(connection, client, identity.subject, user_id)
            if not verified:
                # Whoever set the password of an unverified account never proved the address:
                # the provider just did. Their password, second factor and sessions end here.
                connection.execute(
                    update(users)
                    .where(users.c.id == user_id)
                    .values(verified=True, password_hash=None, totp_secret=None)
                )
                for table in self.revocable:
                    connection.execute(
                        update(table)
                        .where(table.c.collection == client.collection, table.c.user_id == user_id)
                        .values(revoked=True)
                    )

    def _create(self, client: OAuthClient, identity: Identity) -> str:
        collection = client.collection
        options = self.service.collection_options(collection)
        if options.signup != "open":
            raise AuthForbidden(
                f"sign-up to {collection} is {options.signup}; no account is linked"
            )
        data: dict[str, Any] = {"email": identity.email}
        fields = self.service.store.spec.collections[collection].fields
        name_field = fields.get("name")
        if name_field is not None and name_field.type == "text":
            name = identity.name or (identity.email or "").partition("@")[0]
            data["name"] = name[: name_field.max_length] if name_field.max_length else name
        record = self.service.store.create(collection, Caller(), data, trusted=True)
        users = self.service.store.tables[collection]
        try:
            with self._linking(client) as connection:
                self._insert_link(connection, client, identity.subject, record["id"])
                connection.execute(
                    update(users)
                    .where(users.c.id == record["id"])
                    .values(verified=identity.email_verified)
                )
        except AuthError:
            with self.service.writing() as connection:
                connection.execute(delete(users).where(users.c.id == record["id"]))
            raise
        return record["id"]

    def _insert_link(
        self, connection: Any, client: OAuthClient, subject: str, user_id: str
    ) -> None:
        connection.execute(
            insert(self.identities).values(
                id=new_id(),
                collection=client.collection,
                user_id=user_id,
                provider=client.name,
                subject=subject,
                created=clock.now(),
            )
        )

    @contextmanager
    def _linking(self, client: OAuthClient) -> Iterator[Any]:
        """A write transaction that inserts a link; (provider, subject) is unique."""
        try:
            with self.service.writing() as connection:
                yield connection
        except IntegrityError:
            raise OAuthConflict(
                f"this {client.name} identity is already linked to another account"
            ) from None

    # -- the answer ------------------------------------------------------------------------

    def _complete(self, collection: str, user_id: str, redirect: str | None) -> Completed:
        options = self.service.collection_options(collection)
        users = self.service.store.tables[collection]
        with self.service.reading() as connection:
            row = connection.execute(
                select(users.c.verified, users.c.totp_secret, users.c.email).where(
                    users.c.id == user_id
                )
            ).first()
        if options.require_verified and not row.verified:
            raise AuthForbidden("verify your email address before logging in")
        needs_totp = bool(row.totp_secret) and not row.totp_secret.startswith("pending:")
        if redirect is not None:
            code = self._exchange_code(collection, user_id, row.email)
            fragment = f"code={code}" + ("&mfa=totp" if needs_totp else "")
            return Completed(redirect=f"{redirect}#{fragment}")
        if needs_totp:
            code = self._exchange_code(collection, user_id, row.email)
            raise MfaOnExchange(collection, code)
        return Completed(tokens=self.service.issue_tokens(collection, user_id))

    def _exchange_code(self, collection: str, user_id: str, email: str) -> str:
        code = new_secret("bfo_")
        now = clock.now()
        with self.service.writing() as connection:
            connection.execute(
                insert(self.service.one_time).values(
                    id=new_id(),
                    collection=collection,
                    user_id=user_id,
                    purpose=EXCHANGE_PURPOSE,
                    token_hash=digest(code),
                    email=email,
                    created=now,
                    expires=now + EXCHANGE_LIFETIME,
                    used=False,
                )
            )
        return code

    def exchange(self, collection: str, code: str, totp: str | None = None) -> Tokens:
        """Trade a single-use exchange code (from a redirect, or from an mfa-required answer)
        for tokens."""
        with self.service.writing() as connection:
            row = take_one_time_token(connection, self.service.one_time, code, EXCHANGE_PURPOSE)
        if row.collection != collection:
            raise AuthInvalid("this link is invalid or was already used")
        users = self.service.store.tables[collection]
        with self.service.reading() as connection:
            secret = connection.execute(
                select(users.c.totp_secret).where(users.c.id == row.user_id)
            ).scalar()
        if secret and not code_accepted(secret, totp):
            raise AuthError("a valid TOTP code is needed; log in with the provider again")
        return self.service.issue_tokens(collection, row.user_id)

    def close(self) -> None:
        self.http.close()
