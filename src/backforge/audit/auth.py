"""How the audit authenticates: credentials given, login recipes (WFC) and throwaway sign-ups."""

from __future__ import annotations

import base64
import json
import re
import secrets
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

from .client import AuditError, Exchange, Identity
from .context import AuditContext, object_id_of
from .openapi import Operation
from .values import properties, unique_suffix

USERNAME_FIELDS = ("email", "username", "login", "user", "identity", "name")
PASSWORD_FIELDS = ("password", "pass", "passwd", "secret")
TOKEN_FIELDS = ("access_token", "accessToken", "token", "jwt", "id_token", "idToken", "auth_token")
LOGIN_PATH = re.compile(
    r"/(login|signin|sign-in|log-in|token|tokens|sessions?|authenticate|auth-with-password)/?$"
)
SIGNUP_PATH = re.compile(r"/(register|signup|sign-up|registration)/?$")
# A collection of accounts taking a password: a sign-up only when no route says so by name
# (backforge has both POST /api/users, admins only, and POST /api/auth/users/signup).
ACCOUNTS_PATH = re.compile(r"/(users|accounts)/?$")
RESET_PATH = re.compile(r"(reset|forgot|recover)")


class CredentialsError(AuditError):
    """A --user value that cannot be understood or that does not log in."""


@dataclass
class UserSpec:
    name: str
    kind: str  # bearer, basic, apikey, login, cookie, wfc
    value: str
    secret: str | None = None


def parse_user(text: str) -> UserSpec:
    """NAME=bearer:TOKEN | NAME=basic:USER:PASS | NAME=apikey:KEY | NAME=login:USER:PASS |
    NAME=cookie:NAME=VALUE | NAME=wfc:FILE | NAME=USER:PASS (login, else basic) | NAME=TOKEN."""
    if "=" not in text:
        raise CredentialsError(f"--user {text!r}: expected NAME=CREDENTIALS")
    name, creds = text.split("=", 1)
    kind, _, rest = creds.partition(":")
    kind = kind.lower()
    if kind in {"bearer", "token", "apikey", "cookie", "wfc"}:
        return UserSpec(name, "bearer" if kind == "token" else kind, rest)
    if kind in {"basic", "login"}:
        user, sep, password = rest.partition(":")
        if not sep:
            raise CredentialsError(f"--user {name}: {kind} needs USER:PASSWORD")
        return UserSpec(name, kind, user, password)
    if ":" in creds:
        user, _, password = creds.partition(":")
        return UserSpec(name, "auto", user, password)
    return UserSpec(name, "token", creds)


def find_auth_operations(ctx: AuditContext) -> None:
    accounts = None
    for op in ctx.operations("POST"):
        props = {p.lower() for p in properties(credentials_schema(op)[1])}
        has_password = any(f in props for f in PASSWORD_FIELDS)
        path = op.path.lower()
        if ctx.login_op is None and has_password and LOGIN_PATH.search(path):
            ctx.login_op = op
        elif ctx.signup_op is None and has_password and SIGNUP_PATH.search(path):
            ctx.signup_op = op
        elif accounts is None and has_password and ACCOUNTS_PATH.search(path):
            accounts = op
        elif ctx.reset_op is None and RESET_PATH.search(path) and props & set(USERNAME_FIELDS):
            ctx.reset_op = op
    ctx.signup_op = ctx.signup_op or accounts
    if ctx.login_op is None:  # OAuth2 password flow: the token URL is the login
        for scheme in ctx.doc.security_schemes.values():
            url = (((scheme.get("flows") or {}).get("password") or {}).get("tokenUrl")) or ""
            op = next((o for o in ctx.operations("POST") if url and url.endswith(o.path)), None)
            if op:
                ctx.login_op = op


def credentials_schema(op: Operation) -> tuple[str | None, dict[str, Any]]:
    """The schema that holds the credentials, and the envelope around it: some contracts wrap
    them ({"user": {"email", "password"}})."""
    schema = op.body_schema or {}
    props = properties(schema)
    if len(props) == 1:
        ((key, inner),) = props.items()
        if properties(inner) and not {p.lower() for p in props} & set(PASSWORD_FIELDS):
            return key, inner
    return None, schema


def field_names(op: Operation) -> tuple[str | None, str | None]:
    props = list(properties(credentials_schema(op)[1]))
    lower = {p.lower(): p for p in props}
    user = next((lower[f] for f in USERNAME_FIELDS if f in lower), None)
    password = next((lower[f] for f in PASSWORD_FIELDS if f in lower), None)
    return user, password


def login_body(op: Operation, username: str, password: str) -> dict[str, Any]:
    from .values import example_object

    user_field, password_field = field_names(op)
    envelope, schema = credentials_schema(op)
    body = example_object(schema) if schema else {}
    body[user_field or "username"] = username
    body[password_field or "password"] = password
    return {envelope: body} if envelope else body


def identity_from_login(name: str, exchange: Exchange, word: str = "Bearer") -> Identity | None:
    """Turn a successful login response into an identity (a token sent after `word`, or
    session cookies)."""
    if exchange.status >= 300:
        return None
    identity = Identity(name=name)
    data = exchange.json()
    token = find_token(data)
    if token:
        identity.token = token
        identity.headers["Authorization"] = f"{word} {token}"
    for raw in exchange.headers.get_list("set-cookie"):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(raw)
        for key, morsel in cookie.items():
            identity.cookies[key] = morsel.value
    if not token and not identity.cookies:
        return None
    if isinstance(data, dict) and any(
        isinstance(data.get(k), dict) for k in ("user", "record", "data")
    ):
        identity.user_id = _user_id(data)
    return identity


def find_token(data: Any, depth: int = 0) -> str | None:
    if not isinstance(data, dict) or depth > 2:
        return None
    for key in TOKEN_FIELDS:
        if isinstance(data.get(key), str) and len(data[key]) > 8:
            return data[key]
    for value in data.values():
        found = find_token(value, depth + 1)
        if found:
            return found
    return None


def login(ctx: AuditContext, name: str, username: str, password: str) -> Identity | None:
    if ctx.login_op is None:
        return None
    exchange = ctx.call(
        ctx.login_op, body=login_body(ctx.login_op, username, password), check="auth"
    )
    identity = identity_from_login(name, exchange, authorization_word(ctx))
    if identity:
        identity.username, identity.password = username, password
    return identity


def register_throwaway(ctx: AuditContext, name: str) -> Identity | None:
    """Sign up a new user with a random password and log in as it."""
    if ctx.signup_op is None:
        return None
    from .values import example_object

    op = ctx.signup_op
    envelope, schema = credentials_schema(op)
    body = example_object(schema)
    _, password_field = field_names(op)
    # Every identifier the sign-up asks for (an email and a username, often both), so that
    # the login can name the account by whichever one it takes.
    suffix = unique_suffix()
    identifiers = {"email": f"bf-audit-{suffix}@example.com", "name": f"bfaudit{suffix}"}
    filled: dict[str, str] = {}
    lower = {p.lower(): p for p in properties(schema)}
    for field in USERNAME_FIELDS:
        if field in lower:
            value = identifiers["email" if "email" in field else "name"]
            body[lower[field]] = filled[field] = value
    if not filled:
        body["email"] = filled["email"] = identifiers["email"]
    login_field = field_names(ctx.login_op)[0] if ctx.login_op is not None else None
    username = filled.get((login_field or "").lower()) or next(iter(filled.values()))
    password = f"Bf-{secrets.token_urlsafe(14)}-9a"
    body[password_field or "password"] = password
    for key in list(body):  # a confirmation field must repeat the password
        if "confirm" in key.lower() and "password" in key.lower():
            body[key] = password
    exchange = ctx.call(op, body={envelope: body} if envelope else body, check="auth")
    if exchange.status >= 300:
        ctx.note(f"self-registration through {op.key} failed with {exchange.status}")
        return None
    # log in when the API has a login; else the sign-up answer must carry the credentials
    if ctx.login_op is not None:
        identity = login(ctx, name, username, password)
    else:
        identity = identity_from_login(name, exchange, authorization_word(ctx))
    if identity is None:
        ctx.note(f"could not log in as the user registered through {op.key} (rate limited?)")
        return None
    identity.self_registered = True
    identity.username, identity.password = username, password
    identity.email = identifiers["email"]
    if identity.user_id is None:
        identity.user_id = _user_id(exchange.json())
    return identity


SELF_PATH = re.compile(r"/(me|self|whoami|current[-_]?user|profile)/?$", re.IGNORECASE)


def learn_account_id(ctx: AuditContext, identity: Identity) -> None:
    """The id (and email) of the identity's own account, read from a documented `GET .../me`
    when the credentials did not say it (a bearer token given with --user, a login by name)."""
    if identity.user_id is not None and identity.email is not None:
        return
    for op in ctx.operations("GET"):
        if not op.path_params and SELF_PATH.search(op.path):
            exchange = ctx.call(op, identity=identity, check="auth")
            if exchange.status == 200:
                identity.user_id = identity.user_id or _user_id(exchange.json())
                identity.email = identity.email or _email(exchange.json())
                return


def _email(data: Any) -> str | None:
    if isinstance(data, dict):
        for key in ("user", "record", "data"):
            if isinstance(data.get(key), dict):
                data = data[key]
        value = data.get("email")
        if isinstance(value, str) and "@" in value:
            return value
    return None


def _user_id(data: Any) -> str | None:
    """The id of the user record in a sign-up or login answer (bare, or under user/record/data)."""
    if not isinstance(data, dict):
        return None
    for key in ("user", "record", "data"):
        if isinstance(data.get(key), dict):
            return object_id_of(data[key])
    return object_id_of(data)


def _looks_like_token(value: str) -> bool:
    """A JWT, or a long opaque credential (an API key), rather than a password."""
    return (value.startswith("eyJ") and value.count(".") == 2) or len(value) >= 40


def authorization_word(ctx: AuditContext) -> str:
    """The word before a token in Authorization: the document's HTTP scheme when it names one
    other than Basic/Digest (some APIs say Token or JWT), else Bearer."""
    for scheme in ctx.doc.security_schemes.values():
        word = str(scheme.get("scheme", ""))
        if scheme.get("type") == "http" and word and word.lower() not in ("basic", "digest"):
            return "Bearer" if word.lower() == "bearer" else word
    return "Bearer"


def identity_from_spec(ctx: AuditContext, spec: UserSpec) -> list[Identity]:
    if spec.kind == "token" and ctx.login_op is not None and not _looks_like_token(spec.value):
        # NAME=PASS, the form people type: log in as NAME; a value the login refuses is
        # taken for a token after all.
        logged_in = login(ctx, spec.name, spec.name, spec.value)
        if logged_in is not None:
            return [logged_in]
        ctx.note(f"--user {spec.name}: logging in with it failed; it is used as a token")
    if spec.kind == "token":  # a bare token: an API key when that is all the document knows
        kinds = {
            (s.get("type"), str(s.get("scheme", "")).lower())
            for s in ctx.doc.security_schemes.values()
        }
        api_key_only = kinds and all(kind == "apiKey" for kind, _ in kinds)
        spec = UserSpec(spec.name, "apikey" if api_key_only else "bearer", spec.value)
    if spec.kind == "bearer":
        word = authorization_word(ctx)
        return [
            Identity(spec.name, headers={"Authorization": f"{word} {spec.value}"}, token=spec.value)
        ]
    if spec.kind == "basic":
        raw = base64.b64encode(f"{spec.value}:{spec.secret}".encode()).decode()
        return [
            Identity(
                spec.name,
                headers={"Authorization": f"Basic {raw}"},
                username=spec.value,
                password=spec.secret,
            )
        ]
    if spec.kind == "apikey":
        return [api_key_identity(ctx, spec.name, spec.value)]
    if spec.kind == "cookie":
        key, _, value = spec.value.partition("=")
        return [Identity(spec.name, cookies={key: value})]
    if spec.kind == "wfc":
        return wfc_identities(ctx, Path(spec.value))
    # login or auto
    if ctx.login_op is not None:
        identity = login(ctx, spec.name, spec.value, spec.secret or "")
        if identity is None:
            raise CredentialsError(f"--user {spec.name}: login through {ctx.login_op.key} failed")
        return [identity]
    if spec.kind == "login":
        raise CredentialsError(f"--user {spec.name}: the document has no login operation")
    return identity_from_spec(ctx, UserSpec(spec.name, "basic", spec.value, spec.secret))


def api_key_identity(ctx: AuditContext, name: str, key: str) -> Identity:
    for scheme in ctx.doc.security_schemes.values():
        if scheme.get("type") == "apiKey":
            where, header = scheme.get("in", "header"), scheme.get("name", "X-API-Key")
            if where == "query":
                return Identity(name, query={header: key})
            if where == "cookie":
                return Identity(name, cookies={header: key})
            return Identity(name, headers={header: key})
    return Identity(name, headers={"X-API-Key": key})


def wfc_identities(ctx: AuditContext, path: Path) -> list[Identity]:
    """Users from a Web Fuzzing Commons auth file (the format schemathesis reads as well)."""
    try:
        from schemathesis.wfc.loader import load_from_file
        from schemathesis.wfc.payloads import format_login_payload
        from schemathesis.wfc.tokens import extract_token_from_body, format_token
    except ImportError as exc:  # pragma: no cover - schemathesis is a dependency of audit
        raise CredentialsError("reading WFC auth files needs schemathesis") from exc
    try:
        entries = load_from_file(path)
    except Exception as exc:
        raise CredentialsError(f"{path}: {exc}") from exc
    out: list[Identity] = []
    for entry in entries:
        identity = Identity(entry.name, headers={h.name: h.value for h in entry.fixed_headers})
        login_cfg = entry.login_endpoint_auth
        if login_cfg is not None:
            body, extra = format_login_payload(login_cfg)
            headers = {h.name: h.value for h in login_cfg.headers} | extra
            if login_cfg.content_type:
                headers["Content-Type"] = login_cfg.content_type
            exchange = ctx.client.send(
                login_cfg.verb,
                login_cfg.external_endpoint_url or login_cfg.endpoint or "/",
                content=body,
                headers=headers,
                check="auth",
                drift=False,
            )
            if exchange.status >= 300:
                raise CredentialsError(
                    f"{path}: login for {entry.name} failed with {exchange.status}"
                )
            if login_cfg.token is not None:
                tok = login_cfg.token
                if tok.extract_from == "body":
                    token = extract_token_from_body(exchange.json(), tok.extract_selector)
                else:
                    token = exchange.headers.get(tok.extract_selector, "")
                value = format_token(token, tok.send_template)
                if tok.send_in == "query":
                    identity.query[tok.send_name] = value
                else:
                    identity.headers[tok.send_name] = value
                identity.token = token
            else:
                from_login = identity_from_login(entry.name, exchange)
                if from_login:
                    identity.cookies.update(from_login.cookies)
        out.append(identity)
    return out


def load_roles(path: str | None) -> dict[str, Any]:
    """The role map: {users: {NAME: ROLE}, operations: {"METHOD /path": [ROLE, ...]}}."""
    if not path:
        return {}
    from .openapi import load_yaml

    text = Path(path).read_text()
    data = json.loads(text) if path.endswith(".json") else load_yaml(text)
    if not isinstance(data, dict):
        raise CredentialsError(f"{path}: expected a mapping with 'users' and 'operations'")
    return data


def setup_identities(ctx: AuditContext, specs: list[UserSpec], want: int = 2) -> None:
    find_auth_operations(ctx)
    roles = ctx.options.roles.get("users", {}) if ctx.options.roles else {}
    for spec in specs:
        for identity in identity_from_spec(ctx, spec):
            ctx.users.append(identity)
            if identity.name in roles:
                ctx.roles_of[identity.name] = str(roles[identity.name])
    # throwaway users are known to be ordinary: user A and user B of the object-level checks
    index = 0
    while len(ctx.low_privilege_users()) < want and ctx.signup_op is not None and index < want:
        index += 1
        identity = register_throwaway(ctx, f"audit-user-{index}")
        if identity is None:
            break
        ctx.users.append(identity)
        ctx.roles_of[identity.name] = "user"
    if not ctx.users:
        ctx.note(
            "no credentials and no sign-up: authenticated operations are checked anonymously only"
        )
