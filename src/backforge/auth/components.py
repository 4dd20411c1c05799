"""Everything the auth endpoints and the caller lookup need, built once per app."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..store.records import RecordStore
from .credentials import ApiKeys, Sessions
from .mail import Mailer
from .one_time import OneTimeFlows
from .service import AuthService
from .tokens import KeyRing, TokenIssuer
from .totp import Totp

if TYPE_CHECKING:
    from .oauth import OAuthLogin


@dataclass
class AuthComponents:
    service: AuthService
    flows: OneTimeFlows
    api_keys: ApiKeys
    sessions: Sessions
    totp: Totp
    issuer: TokenIssuer
    oauth: OAuthLogin | None = None  # None when no auth collection declares a provider


def build_auth(store: RecordStore, mailer: Mailer | None = None) -> AuthComponents | None:
    """None when the declaration has no auth collection."""
    if not any(c.auth_options is not None for c in store.spec.collections.values()):
        return None
    keys = KeyRing.configured_or_ephemeral("tokens")
    issuer = TokenIssuer(keys, audience=store.spec.name)
    service = AuthService(store, issuer, mailer or Mailer.from_environment())
    public_url = os.environ.get("BACKFORGE_PUBLIC_URL", "http://127.0.0.1:8000")
    return AuthComponents(
        service=service,
        flows=OneTimeFlows(service, public_url),
        api_keys=ApiKeys(service),
        sessions=Sessions(
            service, store.spec.settings.session_cookie, store.spec.settings.csrf_cookie
        ),
        totp=Totp(service, issuer_name=store.spec.name),
        issuer=issuer,
        oauth=_oauth(service, public_url),
    )


def _oauth(service: AuthService, public_url: str) -> OAuthLogin | None:
    if not any(options.oauth for options in service.options.values()):
        return None
    from .oauth import OAuthLogin  # Authlib loads only when a provider is declared

    return OAuthLogin(service, public_url)
