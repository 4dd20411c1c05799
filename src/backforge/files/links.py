"""Signed download links: anyone holding one may fetch that one file until it expires.

The signature is an HMAC of the collection, record, file name and expiry, under a key derived
from the token signing key (BACKFORGE_JWT_SECRET / _KEYS): links survive a restart when that key
is configured and follow its rotation (the key id travels in the signature)."""

from __future__ import annotations

import base64
import hashlib
import hmac

from ..auth.tokens import KeyRing

_PURPOSE = b"backforge file link"


class FileLinks:
    def __init__(self, keys: KeyRing):
        self.keys = keys

    def sign(self, collection: str, record_id: str, name: str, expires: int) -> str:
        kid, secret = self.keys.signing
        return f"{kid}.{self._mac(secret, collection, record_id, name, expires)}"

    def verify(
        self, collection: str, record_id: str, name: str, expires: int, signature: str, now: float
    ) -> bool:
        if expires < now:
            return False
        kid, _, mac = signature.partition(".")
        secret = self.keys.secret(kid)
        if secret is None:
            return False
        expected = self._mac(secret, collection, record_id, name, expires)
        return hmac.compare_digest(expected.encode(), mac.encode("utf-8", "surrogatepass"))

    @staticmethod
    def _mac(secret: bytes, collection: str, record_id: str, name: str, expires: int) -> str:
        key = hmac.new(secret, _PURPOSE, hashlib.sha256).digest()
        message = f"{collection}\n{record_id}\n{name}\n{expires}".encode()
        digest = hmac.new(key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
