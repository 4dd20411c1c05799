"""Just enough JWT to forge test tokens and to find weak HMAC secrets (a dictionary of common
ones, then every short numeric one)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import Any

HMAC_ALGS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}

# Secrets seen in tutorials, framework templates and leaked configs; kept short on purpose.
WEAK_SECRETS = [
    "secret",
    "Secret",
    "SECRET",
    "secretkey",
    "secret_key",
    "secret-key",
    "mysecret",
    "my-secret",
    "my_secret",
    "mysecretkey",
    "my-secret-key",
    "my_secret_key",
    "jwt",
    "jwtsecret",
    "jwt_secret",
    "jwt-secret",
    "JWT_SECRET",
    "jwtSecret",
    "jwt-secret-key",
    "jwt_secret_key",
    "your-256-bit-secret",
    "your-secret-key",
    "your_secret_key",
    "your-secret",
    "yoursecret",
    "supersecret",
    "super-secret",
    "super_secret",
    "supersecretkey",
    "changeme",
    "change-me",
    "change_me",
    "changeit",
    "password",
    "Password",
    "password1",
    "passw0rd",
    "123456",
    "12345678",
    "1234567890",
    "qwerty",
    "admin",
    "administrator",
    "root",
    "test",
    "testing",
    "test123",
    "dev",
    "development",
    "default",
    "key",
    "private",
    "privatekey",
    "token",
    "tokensecret",
    "auth",
    "authsecret",
    "app",
    "appsecret",
    "app_secret",
    "app-secret",
    "s3cr3t",
    "s3cret",
    "secret123",
    "secret1",
    "hello",
    "welcome",
    "letmein",
    "keyboard cat",
    "shhhhh",
    "shhhhhhared-secret",
    "gsdf",
    "api",
    "apisecret",
    "api_secret",
    "example",
    "server",
    "node",
    "express",
    "django-insecure",
    "flask",
    "fastapi",
    "laravel",
    "spring",
    "nestjs",
    "hs256",
    "HS256",
    "signing-key",
    "signingkey",
    "access",
    "access_secret",
    "refresh",
    "refresh_secret",
    "backforge",
    "insecure",
    "notasecret",
    "",
]


def b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _json(data: dict[str, Any]) -> str:
    return b64url(json.dumps(data, separators=(",", ":")).encode())


def decode(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims, unverified; ValueError when it is not a JWT."""
    try:
        head, body, _ = token.split(".")
        header, claims = json.loads(b64url_decode(head)), json.loads(b64url_decode(body))
    except (ValueError, TypeError) as exc:
        raise ValueError("not a JWT") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ValueError("not a JWT")
    return header, claims


def sign(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    alg = header.get("alg", "HS256")
    signing_input = f"{_json(header)}.{_json(claims)}"
    digest = hmac.new(key, signing_input.encode(), HMAC_ALGS.get(alg, hashlib.sha256)).digest()
    return f"{signing_input}.{b64url(digest)}"


def unsigned(claims: dict[str, Any], alg: str = "none") -> str:
    return f"{_json({'alg': alg, 'typ': 'JWT'})}.{_json(claims)}."


def tamper_signature(token: str) -> str:
    head, body, sig = token.split(".")
    raw = bytearray(b64url_decode(sig) or b"\0")
    raw[0] ^= 0x01
    return f"{head}.{body}.{b64url(bytes(raw))}"


# Short numeric secrets ("1234", "804311") are tried exhaustively up to this many digits:
# about 1.1 million HMACs, a second or two offline.
NUMERIC_DIGITS = 6


def _numeric_secrets() -> Iterator[str]:
    for digits in range(1, NUMERIC_DIGITS + 1):
        for number in range(10**digits):
            yield str(number).zfill(digits)


def crack(token: str, candidates: Iterable[str] | None = None) -> str | None:
    """The HMAC secret that signed `token`, or None: from `candidates`, or the dictionary of
    common secrets and then every numeric secret of up to NUMERIC_DIGITS digits."""
    try:
        header, _ = decode(token)
    except ValueError:
        return None
    algorithm = HMAC_ALGS.get(str(header.get("alg")))
    if algorithm is None:
        return None
    head, body, sig = token.split(".")
    expected = b64url_decode(sig)
    signing_input = f"{head}.{body}".encode()
    tried = candidates if candidates is not None else chain(WEAK_SECRETS, _numeric_secrets())
    name = algorithm().name
    for secret in tried:
        # The auditor's own offline search: no secret of the API is compared here.
        if hmac.digest(secret.encode(), signing_input, name) == expected:
            return secret
    return None
