"""ID token checks (backforge.auth.id_tokens) with keys made here: each claim that can be wrong
refuses the token, and a valid one passes with RSA and EC keys."""

from __future__ import annotations

import base64
import hashlib
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from backforge.auth.id_tokens import (
    IdTokenInvalid,
    UnknownKeyId,
    load_key_set,
    verify_id_token,
)

ISSUER = "https://login.example"
CLIENT = "client-1"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def _jwk(algorithm, key, kid: str) -> dict:
    return {**json.loads(algorithm.to_jwk(key.public_key())), "kid": kid}


KEYS = load_key_set({"keys": [_jwk(RSAAlgorithm, RSA_KEY, "r1"), _jwk(ECAlgorithm, EC_KEY, "e1")]})


def _claims(**changes) -> dict:
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "u1", "aud": CLIENT, "exp": now + 300, "iat": now}
    claims["nonce"] = "n-1"
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _token(claims: dict, key=RSA_KEY, algorithm="RS256", kid: str | None = "r1") -> str:
    return jwt.encode(claims, key, algorithm, {"kid": kid} if kid else None)


def _verify(token: str, access_token: str | None = None, issuer_of=lambda c: ISSUER) -> dict:
    return verify_id_token(
        token,
        KEYS,
        algorithms=["RS256", "ES256"],
        client_id=CLIENT,
        issuer_of=issuer_of,
        nonce="n-1",
        access_token=access_token,
        leeway=60,
    )


def _at_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode()).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_valid_tokens_pass_with_either_key_and_without_a_key_id():
    assert _verify(_token(_claims()))["sub"] == "u1"
    assert _verify(_token(_claims(), EC_KEY, "ES256", "e1"))["sub"] == "u1"
    assert _verify(_token(_claims(), kid=None))["sub"] == "u1"
    token = _token(_claims(at_hash=_at_hash("access-1")))
    assert _verify(token, access_token="access-1")["at_hash"]


# Changes to a valid token's claims, as functions of the time the test runs (collection may
# happen long before): each must refuse it for the reason named.
WRONG_CLAIMS = [
    (lambda now: {"exp": now - 120}, "expired"),
    (lambda now: {"iat": now + 600}, "not valid yet"),
    (lambda now: {"nbf": now + 600}, "not valid yet"),
    (lambda now: {"exp": "soon"}, "not a number"),
    (lambda now: {"exp": str(now + 300)}, "not a number"),
    (lambda now: {"exp": True}, "not a number"),
    (lambda now: {"iss": "https://evil.example"}, "issuer"),
    (lambda now: {"aud": "client-2"}, "Audience"),
    (lambda now: {"aud": [CLIENT, "client-2"]}, "azp"),
    (lambda now: {"aud": [CLIENT, "client-2"], "azp": "client-2"}, "azp"),
    (lambda now: {"nonce": "n-2"}, "nonce"),
    (lambda now: {"nonce": None}, "nonce"),
    (lambda now: {"sub": None}, "no sub"),
    (lambda now: {"at_hash": _at_hash("another access token")}, "at_hash"),
]


@pytest.mark.parametrize(("changes", "reason"), WRONG_CLAIMS, ids=[r for _, r in WRONG_CLAIMS])
def test_each_wrong_claim_refuses_the_token(changes, reason):
    claims = _claims(**changes(int(time.time())))
    with pytest.raises(IdTokenInvalid, match=reason):
        _verify(_token(claims), access_token="access-1")


def test_several_audiences_pass_when_azp_is_this_client():
    claims = _claims(aud=[CLIENT, "client-2"], azp=CLIENT)
    assert _verify(_token(claims))["azp"] == CLIENT


def test_signatures_algorithms_and_keys_are_refused():
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(IdTokenInvalid, match="matches no key"):
        _verify(_token(_claims(), other, kid="r1"))
    with pytest.raises(IdTokenInvalid, match="matches no key"):
        _verify(_token(_claims(), other, kid=None))
    with pytest.raises(UnknownKeyId):
        _verify(_token(_claims(), kid="r2"))
    with pytest.raises(IdTokenInvalid, match="algorithm"):
        _verify(_token(_claims(), b"a shared secret of thirty-two bytes!", "HS256"))
    unsigned = jwt.encode(_claims(), None, "none")
    with pytest.raises(IdTokenInvalid, match="algorithm"):
        _verify(unsigned)
    with pytest.raises(IdTokenInvalid, match="unreadable"):
        _verify("not.a.token")


def test_a_tenant_issuer_is_judged_from_the_token():
    template = "https://login.example/{tenantid}/v2.0"

    def issuer_of(claims):
        return template.replace("{tenantid}", str(claims.get("tid", "")))

    token = _token(_claims(iss="https://login.example/t1/v2.0", tid="t1"))
    assert _verify(token, issuer_of=issuer_of)["tid"] == "t1"
    forged = _token(_claims(iss="https://login.example/t1/v2.0", tid="t2"))
    with pytest.raises(IdTokenInvalid, match="issuer"):
        _verify(forged, issuer_of=issuer_of)


def test_a_key_set_without_usable_keys_is_refused():
    for document in ({"keys": [{"kty": "unknown"}]}, {"keys": []}, {"keys": "x"}, []):
        with pytest.raises(ValueError, match="no usable"):
            load_key_set(document)
    encryption_only = {**_jwk(RSAAlgorithm, RSA_KEY, "r1"), "use": "enc"}
    with pytest.raises(ValueError, match="no usable"):
        load_key_set({"keys": [encryption_only]})


def test_infinite_times_and_keys_bound_to_another_algorithm_are_refused():
    # json.dumps writes Infinity and NaN; a provider's JSON parser may read them back.
    for value in (float("inf"), float("nan")):
        with pytest.raises(IdTokenInvalid, match="not a number"):
            _verify(_token(_claims(exp=value)))
    bound = load_key_set({"keys": [{**_jwk(RSAAlgorithm, RSA_KEY, "r1"), "alg": "PS256"}]})
    with pytest.raises(UnknownKeyId):
        verify_id_token(
            _token(_claims()),
            bound,
            algorithms=["RS256", "PS256"],
            client_id=CLIENT,
            issuer_of=lambda c: ISSUER,
            nonce="n-1",
            access_token=None,
            leeway=60,
        )
    # an access token that is not text is not hashed (and is no reason to fail)
    assert _verify(_token(_claims(at_hash="x")), access_token=None)["sub"] == "u1"
