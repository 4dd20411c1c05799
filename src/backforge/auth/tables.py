"""The tables behind accounts: refresh tokens, sessions, API keys, one-time tokens, lockouts,
external identities. They exist when the declaration has an auth collection, and are migrated
like collections (the `_bf_auth_` prefix marks them as backforge's own)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

AUTH_TABLE_PREFIX = "_bf_auth_"


def _id() -> Column:
    return Column("id", String(32), primary_key=True)


def _owner() -> list[Column]:
    return [
        Column("collection", String(63), nullable=False),
        Column("user_id", String(15), nullable=False, index=True),
    ]


def add_auth_tables(metadata: MetaData) -> None:
    Table(
        AUTH_TABLE_PREFIX + "refresh_tokens",
        metadata,
        _id(),
        Column("family", String(32), nullable=False, index=True),
        *_owner(),
        Column("token_hash", String(64), nullable=False, unique=True),
        Column("created", DateTime(timezone=True), nullable=False),
        Column("expires", DateTime(timezone=True), nullable=False),
        Column("used", Boolean, nullable=False, default=False),
        Column("revoked", Boolean, nullable=False, default=False),
    )
    Table(
        AUTH_TABLE_PREFIX + "sessions",
        metadata,
        _id(),
        *_owner(),
        Column("token_hash", String(64), nullable=False, unique=True),
        Column("csrf_token", String(64), nullable=False),
        Column("created", DateTime(timezone=True), nullable=False),
        Column("expires", DateTime(timezone=True), nullable=False),
        Column("revoked", Boolean, nullable=False, default=False),
    )
    Table(
        AUTH_TABLE_PREFIX + "api_keys",
        metadata,
        _id(),
        *_owner(),
        Column("name", String(100), nullable=False),
        Column("prefix", String(16), nullable=False, unique=True),
        Column("secret_hash", String(64), nullable=False),
        Column("scopes", JSON, nullable=False),
        Column("created", DateTime(timezone=True), nullable=False),
        Column("expires", DateTime(timezone=True), nullable=True),
        Column("revoked", Boolean, nullable=False, default=False),
    )
    Table(
        AUTH_TABLE_PREFIX + "one_time_tokens",
        metadata,
        _id(),
        *_owner(),
        Column("purpose", String(16), nullable=False),
        Column("token_hash", String(64), nullable=False, unique=True),
        Column("email", Text, nullable=False),
        Column("created", DateTime(timezone=True), nullable=False),
        Column("expires", DateTime(timezone=True), nullable=False),
        Column("used", Boolean, nullable=False, default=False),
    )
    Table(
        AUTH_TABLE_PREFIX + "failures",
        metadata,
        Column("key", String(200), primary_key=True),
        Column("count", Integer, nullable=False),
        Column("window_start", DateTime(timezone=True), nullable=False),
        Column("locked_until", DateTime(timezone=True), nullable=True),
    )
    Table(
        AUTH_TABLE_PREFIX + "identities",
        metadata,
        _id(),
        *_owner(),
        Column("provider", String(63), nullable=False),
        Column("subject", String(255), nullable=False),
        Column("created", DateTime(timezone=True), nullable=False),
        UniqueConstraint("provider", "subject"),
    )
    Table(
        AUTH_TABLE_PREFIX + "oauth_states",
        metadata,
        Column("state", String(64), primary_key=True),
        Column("collection", String(63), nullable=False),
        Column("provider", String(63), nullable=False),
        Column("code_verifier", String(128), nullable=False),
        Column("nonce", String(64), nullable=False),
        Column("redirect_uri", Text, nullable=False),
        Column("created", DateTime(timezone=True), nullable=False),
    )
