"""The declaration as a typed model: what a backforge YAML file may say."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField

from .jobs import CronDeclaration, JobDeclaration, WebhookDeclaration
from .server import ServerSettings

FieldType = Literal[
    "text",
    "email",
    "url",
    "int",
    "float",
    "decimal",
    "bool",
    "date",
    "datetime",
    "json",
    "select",
    "relation",
]
FIELD_TYPES: tuple[str, ...] = get_args(FieldType)
OnDelete = Literal["restrict", "cascade", "set null"]
# Columns every collection has; a declaration may not redefine them.
SYSTEM_FIELDS = ("id", "created", "updated", "version")
# Fields an auth collection gets unless it declares them itself (see spec.auth_fields).
AUTH_FIELDS = ("email", "username", "verified", "admin", "password_hash", "totp_secret")
TEXT_TYPES = frozenset({"text", "email", "url"})
NUMBER_TYPES = frozenset({"int", "float", "decimal"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Field(_Strict):
    """One declared field of a collection."""

    type: FieldType
    required: bool = False
    unique: bool = False
    index: bool = False
    default: Any = None
    min: int | float | Decimal | None = None
    max: int | float | Decimal | None = None
    min_length: int | None = PydanticField(default=None, ge=0)
    max_length: int | None = PydanticField(default=None, ge=1)
    pattern: str | None = None
    values: list[str] | None = None
    to: str | None = None
    on_delete: OnDelete = "restrict"
    max_digits: int = PydanticField(default=18, ge=1, le=38)
    decimal_places: int = PydanticField(default=2, ge=0, le=18)
    renamed_from: str | None = None
    description: str | None = None
    # Field-level access: never in any response; settable by admins only; per-row read/write rules.
    hidden: bool = False
    readonly: bool = False
    read: str | None = None
    write: str | None = None

    @property
    def is_text(self) -> bool:
        return self.type in TEXT_TYPES


class Rules(_Strict):
    """Who may do what, in the expression language. None means admins only."""

    list: str | None = None
    view: str | None = None
    create: str | None = None
    update: str | None = None
    delete: str | None = None


class OAuthProvider(_Strict):
    """An OpenID Connect provider; its client secret comes from the environment, never from here."""

    issuer: str | None = None  # discovery at <issuer>/.well-known/openid-configuration
    preset: Literal["google", "microsoft", "gitlab"] | None = None
    client_id: str | None = None
    client_id_env: str | None = None
    client_secret_env: str | None = None
    scopes: list[str] = PydanticField(default_factory=lambda: ["openid", "email", "profile"])


class AuthOptions(_Strict):
    """How the records of an auth collection sign up and log in."""

    signup: Literal["open", "invite", "closed"] = "open"
    login: list[Literal["email", "username"]] = PydanticField(default_factory=lambda: ["email"])
    require_verified: bool = False
    min_password_length: int = PydanticField(default=10, ge=8, le=128)
    access_ttl: int = PydanticField(default=900, ge=60, le=86400)
    refresh_ttl: int = PydanticField(default=30 * 86400, ge=300)
    session_ttl: int = PydanticField(default=7 * 86400, ge=300)
    max_failed_logins: int = PydanticField(default=5, ge=1, le=100)
    lockout_seconds: int = PydanticField(default=900, ge=1)
    totp: bool = True
    oauth: dict[str, OAuthProvider] = PydanticField(default_factory=dict)


class Collection(_Strict):
    fields: dict[str, Field] = PydanticField(default_factory=dict)
    indexes: list[list[str]] = PydanticField(default_factory=list)
    rules: Rules = PydanticField(default_factory=Rules)
    renamed_from: str | None = None
    description: str | None = None
    # true, or options: records of this collection can sign up, log in and hold tokens.
    auth: AuthOptions | bool = False

    @property
    def auth_options(self) -> AuthOptions | None:
        if self.auth is True:
            return AuthOptions()
        return self.auth or None


class Settings(_Strict):
    """Engine settings that belong to the declaration (no secrets here)."""

    page_size: int = PydanticField(default=20, ge=1, le=1000)
    max_page_size: int = PydanticField(default=200, ge=1, le=10000)
    max_body_bytes: int = PydanticField(default=1_048_576, ge=1024)
    max_filter_length: int = PydanticField(default=2048, ge=16, le=65536)
    # The word before the token in the Authorization header (some existing clients send Token).
    auth_scheme: str = PydanticField(default="Bearer", pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")


class Spec(_Strict):
    """A whole declaration."""

    name: str = PydanticField(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")
    description: str | None = None
    collections: dict[str, Collection]
    settings: Settings = PydanticField(default_factory=Settings)
    # A Python file beside the declaration defining `hooks = Hooks()` and/or
    # `endpoints = Endpoints()` (see backforge.hooks).
    hooks: str | None = PydanticField(default=None, pattern=r"^[\w./-]+\.py$")
    server: ServerSettings = PydanticField(default_factory=ServerSettings)
    # Background work (see spec.jobs): handlers are functions of the hooks module.
    jobs: dict[str, JobDeclaration] = PydanticField(default_factory=dict)
    cron: dict[str, CronDeclaration] = PydanticField(default_factory=dict)
    webhooks: dict[str, WebhookDeclaration] = PydanticField(default_factory=dict)
