"""Request bodies checked against the declaration: one pydantic model per collection and mode."""

from __future__ import annotations

import copy
import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    ValidationError,
    create_model,
)
from pydantic import (
    Field as PydanticField,
)

from ..files.names import STORED_NAME
from ..rules.parser import is_storable_text
from ..spec.auth_fields import ACCOUNT_EMAIL, account_email
from ..spec.file_fields import max_files
from ..spec.model import Collection, Field
from ..spec.semantics import CALLER_DEFAULT
from .errors import FieldProblem, ValidationFailed
from .ids import ID_PATTERN

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
_CONFIG = ConfigDict(extra="forbid", strict=True, regex_engine="python-re")


def _storable(value: str) -> str:
    if not is_storable_text(value):
        raise ValueError("must not contain NUL characters or unpaired surrogates")
    return value


def _storable_json(value: Any) -> Any:
    """JSON whose every string (keys too) a database can store."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            _storable(item)
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
    return value


_URL_CHARACTERS = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+$")


def _check_url(value: str) -> str:
    """An absolute http(s) URI (RFC 3986: ASCII only; non-ASCII must be percent-encoded)."""
    try:
        parts = urlsplit(value)
    except ValueError:
        raise ValueError("must be an absolute http(s) URL") from None
    if not _URL_CHARACTERS.match(value):
        raise ValueError("must be a URL of ASCII characters (percent-encode the rest)")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http(s) URL")
    return value


def _utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _decimal_from_json(value: Any) -> Any:
    # JSON numbers arrive as int/float; strings carry exact decimals. Both are accepted.
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return Decimal(str(value))
    # ASCII digits: \d would also admit other scripts' digits, which Decimal() reads.
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", value.strip()):
        return Decimal(value.strip())
    return value


def _number_bounds(field: Field) -> dict[str, Any]:
    bounds: dict[str, Any] = {}
    if field.min is not None:
        bounds["ge"] = Decimal(str(field.min)) if field.type == "decimal" else field.min
    if field.max is not None:
        bounds["le"] = Decimal(str(field.max)) if field.type == "decimal" else field.max
    return bounds


def python_type(field: Field) -> Any:
    """The annotated Python type that validates one field's value (never None)."""
    text_bounds = {
        k: v
        for k, v in (
            ("min_length", field.min_length),
            ("max_length", field.max_length),
            ("pattern", field.pattern),
        )
        if v is not None
    }
    match field.type:
        case "text":
            return Annotated[str, PydanticField(**text_bounds), AfterValidator(_storable)]
        case "email":
            return Annotated[EmailStr, PydanticField(**text_bounds)]
        case "url":
            return Annotated[
                str,
                PydanticField(**text_bounds),
                AfterValidator(_storable),
                AfterValidator(_check_url),
            ]
        case "int":
            bounds = _number_bounds(field)
            bounds.setdefault("ge", INT_MIN)
            bounds.setdefault("le", INT_MAX)
            return Annotated[int, PydanticField(**bounds)]
        case "float":
            return Annotated[float, PydanticField(allow_inf_nan=False, **_number_bounds(field))]
        case "decimal":
            return Annotated[
                Decimal,
                BeforeValidator(_decimal_from_json),
                PydanticField(
                    max_digits=field.max_digits,
                    decimal_places=field.decimal_places,
                    allow_inf_nan=False,
                    **_number_bounds(field),
                ),
            ]
        case "bool":
            return bool
        case "date":
            return dt.date
        case "datetime":
            return Annotated[dt.datetime, AfterValidator(_utc)]
        case "json":
            return Annotated[Any, AfterValidator(_storable_json)]
        case "select":
            return Literal[tuple(field.values or ())]
        case "relation":
            return Annotated[str, PydanticField(pattern=ID_PATTERN.pattern)]
        case "file":
            # Names the record holds, to keep or drop: files come as uploads (store.file_values).
            name = Annotated[str, PydanticField(pattern=STORED_NAME.pattern)]
            if field.multiple:
                return Annotated[list[name], PydanticField(max_length=max_files(field))]
            return name
    raise ValueError(f"no validator for {field.type}")


class BodyValidator:
    """Validates create and update bodies for one collection; built once, used per request.

    Hidden and serial fields are never writable; read-only fields only when `with_readonly`
    (admins).
    Auth collections take a write-only `password`, which the store hashes: on create, and on
    update only from admins (others change theirs where the old one is checked).
    """

    def __init__(
        self,
        name: str,
        collection: Collection,
        *,
        with_readonly: bool = False,
        password_min_length: int | None = None,
        relations: dict[str, Any] | None = None,
    ):
        """`relations`: the value type of each stored relation (a list), by name."""
        self.name = name
        self.collection = collection
        # Accounts: the address is stored in lower case (one account per address, whatever its
        # case); a password changes through an update only when an admin sends it.
        self.account = collection.auth_options is not None
        self.with_readonly = with_readonly
        fields = {
            n: f
            for n, f in collection.fields.items()
            if not f.hidden and not f.serial and (with_readonly or not f.readonly)
        }
        self.fields = fields
        self.required = tuple(
            n for n, f in collection.fields.items() if f.required and not f.hidden
        )
        self.protected = frozenset(collection.fields) - frozenset(fields)
        extra: dict[str, Any] = {name: (kind, None) for name, kind in (relations or {}).items()}
        self.extra = extra
        if password_min_length is not None:
            password = Annotated[
                str,
                PydanticField(min_length=password_min_length, max_length=256),
                AfterValidator(_storable),
            ]
            extra["password"] = (password | None, None)
        self.create_model = self._model(f"{name}_create", fields, extra, partial=False)
        self.update_model = self._model(f"{name}_update", fields, extra, partial=True)
        # Create models without the fields the server sets (a declared route's parent).
        self._create_models: dict[frozenset[str], type[BaseModel]] = {}

    @staticmethod
    def _model(
        model_name: str, fields: dict[str, Field], extra: dict[str, Any], partial: bool
    ) -> type[BaseModel]:
        definitions: dict[str, Any] = dict(extra)
        for field_name, field in fields.items():
            value_type = python_type(field)
            if field.required and not partial and field.type != "file":
                # Omitted: the declared default, a slug made by the store, a read-only value
                # a hook fills (checked after it: missing_required), or "required"; an
                # explicit null: refused.
                optional = field.default is not None or field.slug_from is not None
                optional = optional or field.readonly
                definitions[field_name] = (value_type, None if optional else ...)
            elif field.required:
                definitions[field_name] = (value_type, None)
            else:
                definitions[field_name] = (value_type | None, None)
        return create_model(model_name, __config__=_CONFIG, **definitions)

    def for_create(
        self, body: bytes | dict[str, Any], server_set: frozenset[str] = frozenset()
    ) -> tuple[dict[str, Any], frozenset[str]]:
        """The values to insert (declared defaults filled in) and the names the client sent.
        `server_set`: fields the server fills in, which the client may not send."""
        model = self.create_model
        if server_set:
            model = self._create_models.get(server_set)
            if model is None:
                fields = {n: f for n, f in self.fields.items() if n not in server_set}
                model = self._model(f"{self.name}_create", fields, self.extra, partial=False)
                self._create_models[server_set] = model
        values = self._checked(model, body)
        sent = frozenset(values)
        for name, field in self.collection.fields.items():
            if name not in values and field.default is not None and field.default != CALLER_DEFAULT:
                # A copy: a json default is a dict the record (and hooks) may change.
                values[name] = copy.deepcopy(field.default)
        return values, sent

    def missing_required(self, row: dict[str, Any]) -> None:
        """After before-create hooks: every required field has a value (a read-only one is
        the server's to fill: a default, a hook)."""
        missing = [name for name in self.required if row.get(name) is None]
        if missing:
            raise ValidationFailed(
                [FieldProblem(f"/{name}", "this field is required") for name in missing]
            )

    def for_update(self, body: bytes | dict[str, Any]) -> dict[str, Any]:
        values = self._checked(self.update_model, body)
        if "password" in values and self.account and not self.with_readonly:
            # Changed here it would need no old password and leave every other login alive.
            message = (
                f"a password is changed with POST /api/auth/{self.name}/password "
                "(old_password, new_password), which ends the other logins"
            )
            raise ValidationFailed([FieldProblem("/password", message)])
        problems = [
            FieldProblem(f"/{name}", "this field is required and cannot be null")
            for name, value in values.items()
            if name in self.collection.fields
            and value is None
            and self.collection.fields[name].required
        ]
        if problems:
            raise ValidationFailed(problems)
        return values

    def _checked(self, model: type[BaseModel], body: bytes | dict[str, Any]) -> dict[str, Any]:
        try:
            values = self._validate(model, body)
        except ValidationFailed as failed:
            problems = [
                FieldProblem(p.path, "this field is read-only")
                if p.path.lstrip("/") in self.protected
                and not self.collection.fields[p.path.lstrip("/")].hidden
                else p
                for p in failed.problems
            ]
            raise ValidationFailed(problems) from None
        if self.account and isinstance(values.get(ACCOUNT_EMAIL), str):
            values[ACCOUNT_EMAIL] = account_email(values[ACCOUNT_EMAIL])
        return values

    @staticmethod
    def _validate(model: type[BaseModel], body: bytes | dict[str, Any]) -> dict[str, Any]:
        """Only the fields the client sent; defaults are the caller's business."""
        try:
            if isinstance(body, bytes | str):
                instance = model.model_validate_json(body, strict=True)
            else:
                instance = model.model_validate(body, strict=False)
        except ValidationError as exc:
            raise ValidationFailed([_problem(e) for e in exc.errors()]) from None
        data = instance.__dict__
        return {name: data[name] for name in instance.model_fields_set}


_BOUND_MESSAGES = {
    "greater_than_equal": ("ge", "must be at least {}"),
    "less_than_equal": ("le", "must be at most {}"),
    "string_too_short": ("min_length", "must have at least {} characters"),
    "string_too_long": ("max_length", "must have at most {} characters"),
    "string_pattern_mismatch": ("pattern", "must match the pattern {}"),
    "decimal_max_digits": ("max_digits", "must have at most {} digits"),
    "decimal_max_places": ("decimal_places", "must have at most {} decimal places"),
}


def validation_failed(exc: ValidationError) -> ValidationFailed:
    """Any pydantic failure (bodies of auth, batch, custom endpoints) in the store's terms."""
    return ValidationFailed([_problem(e) for e in exc.errors()])


def _problem(error: Any) -> FieldProblem:
    path = "/" + "/".join(str(p) for p in error["loc"]) if error["loc"] else ""
    match error["type"]:
        case "extra_forbidden":
            message = "unknown field: it is not declared, or it is set by the server"
        case "missing":
            message = "this field is required"
        case "model_type" | "dict_type" | "model_attributes_type":
            message = "the body must be a JSON object"
        case "json_invalid":
            message = "the body is not valid JSON"
        case kind if kind in _BOUND_MESSAGES:
            key, template = _BOUND_MESSAGES[kind]
            bound = str(error.get("ctx", {}).get(key, "?"))
            message = template.format(re.sub(r"^Decimal\('(.*)'\)$", r"\1", bound))
        case _:
            message = error["msg"]
    return FieldProblem(path, message)
