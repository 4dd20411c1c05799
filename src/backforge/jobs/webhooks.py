"""Webhook delivery: a signed POST per committed write, retried by the job that carries it.

The receiver checks `X-Backforge-Signature: sha256=<hex>`, the HMAC-SHA256 with the shared
secret of `<X-Backforge-Timestamp>.<raw body>`, and refuses old timestamps (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time

import httpx
from sqlalchemy import Engine, Table, insert

from .. import clock
from ..spec.jobs import WebhookDeclaration
from ..store.ids import new_id

SIGNATURE_HEADER = "X-Backforge-Signature"
TIMESTAMP_HEADER = "X-Backforge-Timestamp"


class DeliveryFailed(Exception):
    """The receiver did not accept the delivery (it will be retried)."""


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str, timestamp: str, body: bytes, signature: str, tolerance: float = 300
) -> bool:
    """What a receiver does: a matching signature over a recent timestamp."""
    # Only the digits we send: int() would also take spaces, '+', '_' and other scripts' digits.
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 18):
        return False
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    # As bytes: compare_digest refuses a str with non-ASCII characters (a forged header).
    return hmac.compare_digest(
        sign(secret, timestamp, body).encode(), signature.encode("utf-8", "surrogatepass")
    )


def deliver(
    name: str,
    webhook: WebhookDeclaration,
    job_id: str,
    attempt: int,
    body: bytes,
    engine: Engine,
    log: Table,
) -> None:
    """POST the body once and log the outcome; DeliveryFailed unless the answer is 2xx."""
    url = os.environ.get(webhook.url_env)
    secret = os.environ.get(webhook.secret_env)
    status_code: int | None = None
    error: str | None = None
    try:
        if not url or not secret:
            missing = webhook.url_env if not url else webhook.secret_env
            raise DeliveryFailed(f"{missing} is not set in the worker's environment")
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "backforge-webhooks",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(secret, timestamp, body),
            "X-Backforge-Webhook": name,
            # The same on every retry: receivers use it to ignore a repeat.
            "X-Backforge-Delivery": job_id,
        }
        try:
            response = httpx.post(
                url, content=body, headers=headers, timeout=webhook.timeout, follow_redirects=False
            )
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from None
        status_code = response.status_code
        if not 200 <= status_code < 300:
            raise DeliveryFailed(f"the receiver answered {status_code}")
    except DeliveryFailed as exc:
        error = str(exc)
        raise
    finally:
        with engine.begin() as connection:
            connection.execute(
                insert(log).values(
                    id=new_id(),
                    webhook=name,
                    job_id=job_id,
                    attempt=attempt,
                    status_code=status_code,
                    error=error,
                    created=clock.now(),
                )
            )
