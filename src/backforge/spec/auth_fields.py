"""The fields every auth collection has: identity, flags and secrets, with safe access defaults."""

from __future__ import annotations

from .model import Collection, Field, Spec

# Only the owner (and admins) may read an account's email address.
OWNER_ONLY = "id = auth.id"
# The field that names an account. It is stored as `account_email` gives it, so the plain unique
# index on it holds whatever the case, on every database.
ACCOUNT_EMAIL = "email"


def account_email(address: str) -> str:
    """An address as accounts store and look it up: `Ann@Example.com` is `ann@example.com`."""
    return address.strip().lower()


def auth_fields(collection: Collection) -> dict[str, Field]:
    options = collection.auth_options
    assert options is not None
    fields = {
        "email": Field(type="email", required=True, unique=True, max_length=254, read=OWNER_ONLY),
        "verified": Field(type="bool", required=True, default=False, readonly=True),
        "admin": Field(type="bool", required=True, default=False, readonly=True),
        "password_hash": Field(type="text", hidden=True, readonly=True),
        "totp_secret": Field(type="text", hidden=True, readonly=True),
    }
    if "username" in options.login:
        fields["username"] = Field(
            type="text", unique=True, min_length=3, max_length=32, pattern=r"^[a-z0-9_.-]+$"
        )
    return fields


def with_auth_fields(spec: Spec) -> Spec:
    """The spec with the automatic fields of auth collections added (declared ones win)."""
    collections = {}
    for name, collection in spec.collections.items():
        if collection.auth_options is None:
            collections[name] = collection
            continue
        automatic = {k: v for k, v in auth_fields(collection).items() if k not in collection.fields}
        collections[name] = collection.model_copy(
            update={"fields": {**automatic, **collection.fields}}
        )
    return spec.model_copy(update={"collections": collections})
