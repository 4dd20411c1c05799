"""Signed access tokens (JWT, HS256 pinned) with key ids and rotation, and opaque secrets.

Keys come from the environment, never from the declaration:
- BACKFORGE_JWT_KEYS="kid2:secret2,kid1:secret1" — the first signs, all verify (rotation), or
- BACKFORGE_JWT_KEY_FILE=path with one "kid:secret" per line (first signs), or
- BACKFORGE_JWT_SECRET=secret (key id "k1").
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

ALGORITHM = "HS256"
ISSUER = "backforge"
MIN_SECRET_BYTES = 32
_CACHE_LIMIT = 10_000


class InvalidToken(Exception):
    """A token that is malformed, unsigned, altered, expired or meant for someone else."""


class KeyConfigurationError(ValueError):
    pass


logger = logging.getLogger("backforge.auth")


@dataclass(frozen=True)
class KeyRing:
    keys: tuple[tuple[str, bytes], ...]  # (kid, secret); the first one signs

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> KeyRing | None:
        environ = dict(os.environ if environ is None else environ)
        text = environ.get("BACKFORGE_JWT_KEYS")
        if not text and environ.get("BACKFORGE_JWT_KEY_FILE"):
            text = ",".join(
                line.strip()
                for line in Path(environ["BACKFORGE_JWT_KEY_FILE"]).read_text().splitlines()
                if line.strip() and not line.startswith("#")
            )
        if not text and environ.get("BACKFORGE_JWT_SECRET"):
            text = "k1:" + environ["BACKFORGE_JWT_SECRET"]
        if not text:
            return None
        keys = []
        for item in text.split(","):
            kid, _, secret = item.strip().partition(":")
            if not kid or len(secret.encode()) < MIN_SECRET_BYTES:
                raise KeyConfigurationError(
                    f"each JWT key is 'kid:secret', the secret at least {MIN_SECRET_BYTES} bytes"
                )
            keys.append((kid, secret.encode()))
        return cls(tuple(keys))

    @classmethod
    def configured_or_ephemeral(cls, what: str) -> KeyRing:
        """The configured keys, else a random one for this process, with a warning that `what`
        (tokens, file links) ends when the process does and is not accepted by another."""
        keys = cls.from_environment()
        if keys is None:
            logger.warning(
                "no BACKFORGE_JWT_SECRET/BACKFORGE_JWT_KEYS set: using a random signing key, "
                "so %s end when this process stops (and another process does not accept them)",
                what,
            )
            keys = cls.ephemeral()
        return keys

    @classmethod
    def ephemeral(cls) -> KeyRing:
        """A random key for development: tokens die with the process."""
        return cls((("dev", secrets.token_bytes(32)),))

    @property
    def signing(self) -> tuple[str, bytes]:
        return self.keys[0]

    def secret(self, kid: str) -> bytes | None:
        wanted = kid.encode("utf-8", "surrogatepass")  # compare_digest refuses non-ASCII str
        for key_id, secret in self.keys:
            if hmac.compare_digest(key_id.encode(), wanted):
                return secret
        return None


class TokenIssuer:
    """Issues and verifies access tokens; verified tokens are cached until they expire."""

    def __init__(self, keys: KeyRing, audience: str):
        self.keys = keys
        self.audience = audience
        self._verified: dict[str, tuple[dict[str, Any], float]] = {}

    def issue(self, collection: str, user_id: str, admin: bool, ttl: int) -> tuple[str, int]:
        now = int(time.time())
        kid, secret = self.keys.signing
        claims = {
            "sub": user_id,
            "col": collection,
            "adm": admin,
            "iat": now,
            "exp": now + ttl,
            "aud": self.audience,
            "iss": ISSUER,
            "jti": secrets.token_urlsafe(12),
        }
        return jwt.encode(claims, secret, algorithm=ALGORITHM, headers={"kid": kid}), ttl

    def verify(self, token: str) -> dict[str, Any]:
        cached = self._verified.get(token)
        now = time.time()
        if cached is not None and cached[1] > now:
            return cached[0]
        claims = self._decode(token)
        if len(self._verified) >= _CACHE_LIMIT:
            self._verified.clear()
        self._verified[token] = (claims, float(claims["exp"]))
        return claims

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("malformed token") from None
        # Pinned: the header's own alg is never trusted (no 'none', no algorithm confusion).
        if header.get("alg") != ALGORITHM:
            raise InvalidToken("unexpected token algorithm")
        secret = self.keys.secret(str(header.get("kid", "")))
        if secret is None:
            raise InvalidToken("unknown signing key")
        try:
            return jwt.decode(
                token,
                secret,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("token expired") from None
        except jwt.PyJWTError:
            raise InvalidToken("invalid token") from None


def new_secret(prefix: str = "", size: int = 32) -> str:
    return prefix + secrets.token_urlsafe(size)


def digest(secret: str) -> str:
    """SHA-256 of a high-entropy secret (for storage; such secrets need no slow hash)."""
    return hashlib.sha256(secret.encode()).hexdigest()
