"""ID tokens of OpenID Connect providers, checked with PyJWT — the one JOSE library backforge
uses, for its own tokens too (public-key algorithms need `cryptography`, which the `[oauth]`
extra brings with Authlib).

The checks of OpenID Connect Core 3.1.3.7: the signature by a key of the provider's set (an
algorithm the provider announced and backforge allows), `iss`, `aud` (and `azp` when there are
several audiences), `exp`, `iat` and `nbf` with some leeway, the login's `nonce`, and `at_hash`
when the token carries one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from jwt import PyJWK
from jwt.exceptions import InvalidSignatureError, PyJWTError

# The key type each family of algorithms signs with.
_KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
# The hash of `at_hash` follows the signature's: SHA-256 for RS256/PS256/ES256, and so on.
_AT_HASH = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}


class IdTokenInvalid(ValueError):
    """The ID token did not validate; the message says which check refused it (for the log)."""


class UnknownKeyId(IdTokenInvalid):
    """The token names a key the set does not hold: the provider may have rotated its keys."""


@dataclass(frozen=True)
class SigningKey:
    """A key of the provider's set, with what the set says of it."""

    key: PyJWK
    key_id: str | None
    key_type: str
    algorithm: str | None  # the `alg` the provider bound the key to, if any


def load_key_set(document: Any) -> list[SigningKey]:
    """The signing keys of a JWKS document (keys for encryption and of types PyJWT cannot use
    are left out); ValueError when none is left."""
    entries = document.get("keys") if isinstance(document, dict) else None
    keys = []
    for data in entries if isinstance(entries, list) else []:
        if not isinstance(data, dict) or data.get("use", "sig") != "sig":
            continue
        try:
            key = PyJWK(data)
        except (PyJWTError, ValueError, TypeError, KeyError):
            continue
        keys.append(SigningKey(key, data.get("kid"), str(data.get("kty")), data.get("alg")))
    if not keys:
        raise ValueError("the key set holds no usable signing key")
    return keys


def verify_id_token(
    token: str,
    keys: list[SigningKey],
    *,
    algorithms: list[str],
    client_id: str,
    issuer_of: Callable[[dict[str, Any]], str],
    nonce: str,
    access_token: str | None,
    leeway: int,
) -> dict[str, Any]:
    """The claims of a valid ID token, else IdTokenInvalid. `issuer_of(claims)` is the issuer
    expected (a multi-tenant provider's depends on the token's tenant)."""
    try:
        header = jwt.get_unverified_header(token)
    except PyJWTError as exc:
        raise IdTokenInvalid(f"unreadable token: {exc}") from None
    algorithm = header.get("alg")
    if algorithm not in algorithms:
        raise IdTokenInvalid(f"algorithm {algorithm!r} is not one of {algorithms}")
    candidates = _candidate_keys(keys, header.get("kid"), _KEY_TYPES.get(algorithm[:2]), algorithm)
    claims = _signed_claims(token, candidates, algorithm, client_id)
    claims = _checked_claims(claims, leeway, client_id, issuer_of, nonce)
    if isinstance(access_token, str) and "at_hash" in claims:
        expected = _token_hash(access_token, algorithm)
        if not isinstance(claims["at_hash"], str) or not same_text(claims["at_hash"], expected):
            raise IdTokenInvalid("at_hash does not match the access token")
    return claims


def _candidate_keys(
    keys: list[SigningKey], key_id: Any, key_type: str | None, algorithm: str
) -> list[SigningKey]:
    """The key the token names; without a key id, every key that may sign with the algorithm:
    of its type, and bound to this algorithm when the set binds it to one."""
    usable = [
        key for key in keys if key.key_type == key_type and key.algorithm in (None, algorithm)
    ]
    if key_id is None:
        return usable
    named = [key for key in usable if key.key_id == key_id]
    if not named:
        raise UnknownKeyId(f"no key {key_id!r} in the provider's set")
    return named


def _signed_claims(
    token: str, candidates: list[SigningKey], algorithm: str, client_id: str
) -> dict[str, Any]:
    for key in candidates:
        try:
            return jwt.decode(
                token,
                key.key.key,
                algorithms=[algorithm],
                # Times are checked below, with the leeway; the signature and aud here.
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
                audience=client_id,
            )
        except InvalidSignatureError:
            continue
        except PyJWTError as exc:
            raise IdTokenInvalid(f"{type(exc).__name__}: {exc}") from None
    raise IdTokenInvalid("the signature matches no key of the provider")


def _checked_claims(
    claims: dict[str, Any],
    leeway: int,
    client_id: str,
    issuer_of: Callable[[dict[str, Any]], str],
    nonce: str,
) -> dict[str, Any]:
    for claim in ("iss", "sub", "aud", "exp", "iat"):
        if claim not in claims:
            raise IdTokenInvalid(f"no {claim} claim")
    if claims["iss"] != issuer_of(claims):
        raise IdTokenInvalid(f"issuer {claims['iss']!r} is not the provider's")
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if (len(audiences) > 1 or "azp" in claims) and claims.get("azp") != client_id:
        raise IdTokenInvalid("azp is not this client")
    now = time.time()
    expires, issued = _time(claims, "exp"), _time(claims, "iat")
    not_before = _time(claims, "nbf") if "nbf" in claims else issued
    if expires + leeway < now:
        raise IdTokenInvalid("the token has expired")
    if issued - leeway > now or not_before - leeway > now:
        raise IdTokenInvalid("the token is not valid yet")
    sent = claims.get("nonce")
    if not isinstance(sent, str) or not same_text(sent, nonce):
        raise IdTokenInvalid("the nonce is not this login's")
    return claims


def _time(claims: dict[str, Any], claim: str) -> float:
    """A NumericDate: a finite JSON number (not a string, a boolean, NaN or Infinity)."""
    value = claims[claim]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise IdTokenInvalid(f"{claim} is not a number of seconds")
    return float(value)


def _token_hash(access_token: str, algorithm: str) -> str:
    """OIDC's at_hash: the left half of the access token's hash, base64url without padding."""
    digest = _AT_HASH.get(algorithm[-3:], hashlib.sha512)(access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


def same_text(a: str, b: str) -> bool:
    """Equal texts, compared in constant time (secrets, nonces, hashes)."""
    return hmac.compare_digest(a.encode(), b.encode())
