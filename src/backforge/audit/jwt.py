"""Just enough JWT to forge test tokens and to find weak HMAC secrets (a packaged dictionary of
common ones and their usual decorations, then every short numeric one)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Iterator
from importlib import resources
from itertools import chain
from typing import Any

HMAC_ALGS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}

SECRETS_FILE = "jwt_secrets.txt"  # in backforge/audit/data
YEARS = [str(year) for year in range(2015, 2031)]
SUFFIXES = ["1", "12", "123", "1234", "!", "_key", "-key", "key", "_secret", "-secret", *YEARS]
PREFIXES = ["my", "my_", "my-", "the"]


def _secret_words() -> list[str]:
    text = resources.files("backforge.audit").joinpath("data", SECRETS_FILE).read_text("utf-8")
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def weak_secrets(names: Iterable[str] = ()) -> Iterator[str]:
    """The packaged dictionary and the API's own `names` (its title, its host), then each
    decorated as people do (case, `my` before, digits, `_key`, a year after); the empty secret
    too. Each candidate once."""
    words = [*names, *_secret_words()]
    cased = [*words, *(word.capitalize() for word in words)]
    seen: set[str] = set()
    forms = chain(
        [""],
        cased,
        (word.upper() for word in words),
        (prefix + word for word in cased for prefix in PREFIXES),
        (word + suffix for word in cased for suffix in SUFFIXES),
    )
    for form in forms:
        if form not in seen:
            seen.add(form)
            yield form


def names_of_api(title: str, host: str) -> list[str]:
    """What an API is called, as a secret might spell it: its title's words alone and joined
    (`Pet Store` -> pet, store, petstore, pet-store, pet_store), its host's labels but the
    last (`api.petshop.io` -> petshop)."""
    words = [w.lower() for w in re.findall(r"[A-Za-z0-9]+", title)]
    names = [*words, "".join(words), "-".join(words), "_".join(words)]
    labels = host.lower().split(".")
    if not host.replace(".", "").isdigit():  # no name in an IP address
        names += [label for label in labels[:-1] if label not in {"www", "api"}]
    return [name for name in dict.fromkeys(names) if len(name) >= 3]


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


def crack(
    token: str, candidates: Iterable[str] | None = None, names: Iterable[str] = ()
) -> str | None:
    """The HMAC secret that signed `token`, or None: from `candidates`, or the dictionary of
    common secrets with the API's `names`, then every numeric secret of up to NUMERIC_DIGITS
    digits."""
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
    tried = candidates if candidates is not None else chain(weak_secrets(names), _numeric_secrets())
    name = algorithm().name
    for secret in tried:
        # The auditor's own offline search: no secret of the API is compared here.
        if hmac.digest(secret.encode(), signing_input, name) == expected:
            return secret
    return None
