"""The declaration as a typed model: what a backforge YAML file may say."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, PrivateAttr
from pydantic import Field as PydanticField

from .jobs import CronDeclaration, JobDeclaration, WebhookDeclaration
from .routes import ErrorShape, Route, Shape
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
    "file",
]
FIELD_TYPES: tuple[str, ...] = get_args(FieldType)
OnDelete = Literal["restrict", "cascade", "set null"]
# Columns every collection has; a declaration may not redefine them.
SYSTEM_FIELDS = ("id", "created", "updated", "version")
# Fields an auth collection gets unless it declares them itself (see spec.auth_fields).
AUTH_FIELDS = ("email", "username", "verified", "admin", "password_hash", "totp_secret")
# A collection, field or relation name.
IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
TEXT_TYPES = frozenset({"text", "email", "url"})
NUMBER_TYPES = frozenset({"int", "float", "decimal"})


_BYTE_UNITS = {"": 1, "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3}
_BYTE_UNITS |= {"KIB": 1024, "MIB": 1024**2, "GIB": 1024**3}


def byte_count(value: Any) -> Any:
    """A size as bytes: 5000000, "5MB", "5 MiB", "200KB" (decimal or binary units)."""
    if not isinstance(value, str):
        return value
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", value)
    if match is None or match.group(2).upper() not in _BYTE_UNITS:
        raise ValueError(f"'{value}' is not a size such as 5000000, '5MB' or '5MiB'")
    return int(Decimal(match.group(1)) * _BYTE_UNITS[match.group(2).upper()])


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
    # What a relation may point at: records the writer may view, or any that exist (naming a
    # record one may not see: adding a member to a team by id).
    reference: Literal["visible", "any"] = "visible"
    max_digits: int = PydanticField(default=18, ge=1, le=38)
    decimal_places: int = PydanticField(default=2, ge=0, le=18)
    renamed_from: str | None = None
    description: str | None = None
    # A unique text field filled, when a create does not send it, from another text field of
    # the record ("Hello, World!" -> hello-world, hello-world-2, ...).
    slug_from: str | None = None
    # An integer the store numbers 1, 2, 3... on create (an order number, the integer id a
    # contract shows): unique, never reused, never written by a client or an admin.
    serial: bool = False
    # Field-level access: never in any response; settable by admins only; per-row read/write rules.
    hidden: bool = False
    readonly: bool = False
    read: str | None = None
    write: str | None = None
    # File fields: the record holds the stored file's name (or a list of names with
    # `multiple`); each file at most `max_size` bytes ("5MB" reads too), of a media type
    # `accept` admits as its content shows it ("image/*", "application/pdf"), images with the
    # thumbnail sizes `thumbs` lists ("100x100" cropped, "200x0" by width, "300x300f" fitted).
    multiple: bool | None = None
    max_files: int | None = PydanticField(default=None, ge=1, le=1000)
    max_size: Annotated[int, BeforeValidator(byte_count)] | None = PydanticField(default=None, ge=1)
    accept: list[str] | None = None
    thumbs: list[str] | None = None

    @property
    def is_text(self) -> bool:
        return self.type in TEXT_TYPES

    @property
    def kind(self) -> str:
        """The kind of value the column holds, as filters and sorts see it: a file field is
        text (its stored name), or a JSON list of names with `multiple`."""
        if self.type == "file":
            return "json" if self.multiple else "text"
        return self.type


class Rules(_Strict):
    """Who may do what, in the expression language. None means admins only."""

    list: str | None = None
    view: str | None = None
    create: str | None = None
    update: str | None = None
    delete: str | None = None

    def declared(self) -> dict[str, str]:
        """The rules declared, by operation (the others admit only admins)."""
        operations = ("list", "view", "create", "update", "delete")
        return {op: rule for op in operations if (rule := getattr(self, op)) is not None}


class Relation(_Strict):
    """A to-many relation, declared on the collection its records belong to:

    - `via`: the records of `to` whose relation field `via` points here (one-to-many);
    - `through`: a collection whose records link one record here to one of `to` (many-to-many,
      `through_fields` names its two relation fields when that is ambiguous);
    - neither: many-to-many kept by backforge in a link table; the value is part of the
      record (a list of ids, or of `key` values) and is written with it.
    """

    to: str
    via: str | None = None
    through: str | None = None
    through_fields: list[str] | None = None
    # Records are named by this unique field of `to` instead of their ids (link tables only).
    key: str | None = None
    # Values of `key` that name no record create one (under the caller's create rule of `to`).
    create_missing: bool = False
    # Which records a writer may name: those it may view, or any that exist (adding a member
    # by email to a team; reads still show only the members the reader may view).
    reference: Literal["visible", "any"] = "visible"
    description: str | None = None

    @property
    def stored(self) -> bool:
        """Whether the relation is a value of the record (kept in a link table by backforge)."""
        return self.via is None and self.through is None


RecordRoute = Literal["list", "view", "create", "update", "delete"]


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
    # Below 8 only where a contract demands it: `check` warns.
    min_password_length: int = PydanticField(default=10, ge=1, le=128)
    access_ttl: int = PydanticField(default=900, ge=60, le=86400)
    refresh_ttl: int = PydanticField(default=30 * 86400, ge=300)
    session_ttl: int = PydanticField(default=7 * 86400, ge=300)
    max_failed_logins: int = PydanticField(default=5, ge=1, le=100)
    lockout_seconds: int = PydanticField(default=900, ge=1)
    totp: bool = True
    oauth: dict[str, OAuthProvider] = PydanticField(default_factory=dict)
    # The account routes under /api/auth/<collection>/ (and /api/auth/me, /api/auth/keys while
    # any collection keeps them); false when declared routes serve the accounts instead.
    routes: bool = True


class Collection(_Strict):
    fields: dict[str, Field] = PydanticField(default_factory=dict)
    # To-many relations (one-to-many and many-to-many), by name.
    relations: dict[str, Relation] = PydanticField(default_factory=dict)
    indexes: list[list[str]] = PydanticField(default_factory=list)
    # Unique constraints over several fields, e.g. [[user, article]].
    unique: list[list[str]] = PydanticField(default_factory=list)
    rules: Rules = PydanticField(default_factory=Rules)
    renamed_from: str | None = None
    description: str | None = None
    # true, or options: records of this collection can sign up, log in and hold tokens.
    auth: AuthOptions | bool = False
    # The generated /api/<collection> routes: all (true), none (false), or these operations.
    record_routes: bool | list[RecordRoute] = True
    # For a link table backforge keeps for a stored relation (see Relation): (collection,
    # relation). Set by spec.relations, never declared.
    _link_of: tuple[str, str] | None = PrivateAttr(default=None)

    @property
    def auth_options(self) -> AuthOptions | None:
        if self.auth is True:
            return AuthOptions()
        return self.auth or None

    @property
    def link_of(self) -> tuple[str, str] | None:
        return self._link_of

    def serves(self, operation: RecordRoute) -> bool:
        """Whether the generated record routes include `operation`."""
        if isinstance(self.record_routes, bool):
            return self.record_routes
        return operation in self.record_routes


_HEADER_NAME = r"^[A-Za-z][A-Za-z0-9-]{0,63}$"
_COOKIE_NAME = r"^[A-Za-z0-9_-]{1,64}$"


class Settings(_Strict):
    """Engine settings that belong to the declaration (no secrets here)."""

    page_size: int = PydanticField(default=20, ge=1, le=1000)
    max_page_size: int = PydanticField(default=200, ge=1, le=10000)
    max_body_bytes: int = PydanticField(default=1_048_576, ge=1024)
    max_filter_length: int = PydanticField(default=2048, ge=16, le=65536)
    # The word before the token in the Authorization header (some existing clients send Token).
    auth_scheme: str = PydanticField(default="Bearer", pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")
    # Where else an access token may come from: a header that carries it bare (X-Access-Token)
    # or a cookie; the Authorization header still comes first.
    token_header: str | None = PydanticField(default=None, pattern=_HEADER_NAME)
    token_cookie: str | None = PydanticField(default=None, pattern=_COOKIE_NAME)
    # The names of the session and CSRF cookies of cookie sessions.
    session_cookie: str = PydanticField(default="bf_session", pattern=_COOKIE_NAME)
    csrf_cookie: str = PydanticField(default="bf_csrf", pattern=_COOKIE_NAME)


class Spec(_Strict):
    """A whole declaration."""

    name: str = PydanticField(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")
    description: str | None = None
    collections: dict[str, Collection] = PydanticField(default_factory=dict)
    settings: Settings = PydanticField(default_factory=Settings)
    # A Python file beside the declaration defining `hooks = Hooks()` and/or
    # `endpoints = Endpoints()` (see backforge.hooks).
    hooks: str | None = PydanticField(default=None, pattern=r"^[\w./-]+\.py$")
    server: ServerSettings = PydanticField(default_factory=ServerSettings)
    # Background work (see spec.jobs): handlers are functions of the hooks module.
    jobs: dict[str, JobDeclaration] = PydanticField(default_factory=dict)
    cron: dict[str, CronDeclaration] = PydanticField(default_factory=dict)
    webhooks: dict[str, WebhookDeclaration] = PydanticField(default_factory=dict)
    # The API's shape where a contract fixes it (see spec.routes): how records look, which
    # method and path serve which operation, and how failures are answered there.
    shapes: dict[str, Shape] = PydanticField(default_factory=dict)
    routes: dict[str, Route] = PydanticField(default_factory=dict)
    errors: ErrorShape | None = None
