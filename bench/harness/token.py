"""HS256 bearer tokens for the Python peers (and backforge), made with the stdlib alone."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

# A benchmark-only secret: the peers read it from BENCH_JWT_SECRET.
BENCH_SECRET = "backforge-bench-secret-not-for-production-0123456789"
BENCH_USER_ID = "benchuser000001"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_token(secret: str = BENCH_SECRET, sub: str = BENCH_USER_ID, ttl: int = 86_400) -> str:
    now = int(time.time())
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = {"sub": sub, "iat": now, "exp": now + ttl, "type": "access"}
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"
