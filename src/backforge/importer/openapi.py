"""`backforge import openapi FILE`: a draft declaration from an OpenAPI 3 document.

Schemas that responses return become collections (their properties fields, in snake_case) and
shapes (the document's names); operations become declared routes (list, get, create, update,
delete, login, signup) with their envelopes, keys, statuses and query parameters. What cannot be
mapped is listed, never guessed: the draft is a start to review, and it passes `backforge
check` (a route that would not is left out and listed)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..openapi_refs import References
from ..spec.errors import Problem
from ..spec.model import IDENTIFIER, SYSTEM_FIELDS
from ..spec.routes import PARAMETER_NAME

METHODS = ("get", "post", "put", "patch", "delete")
# Names of the automatic fields, as documents spell them.
SYSTEM_NAMES = {
    "id": "id",
    "created": "created",
    "createdAt": "created",
    "created_at": "created",
    "updated": "updated",
    "updatedAt": "updated",
    "updated_at": "updated",
}
# Paths that name the caller's own account (GET: me, PUT/PATCH: update_me).
ACCOUNT_SELF = frozenset({"me", "user", "account", "profile", "current_user", "self"})
# How deep schemas made of schemas (allOf, anyOf) are followed.
MAX_DEPTH = 20
PAGING = {"limit", "offset", "page_size", "per_page", "cursor", "page", "skip", "take"}
_WORD = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


@dataclass
class Draft:
    """A declaration (as plain data) and what could not be mapped."""

    declaration: dict[str, Any]
    unmapped: list[str] = field(default_factory=list)


def snake(name: str) -> str:
    """createdAt -> created_at; a name that cannot be a field gets a prefix."""
    text = _WORD.sub("_", name).replace("-", "_").replace(" ", "_").lower()
    text = re.sub(r"[^a-z0-9_]", "", text).strip("_")
    if not text or not text[0].isalpha():
        text = "f_" + text
    return text[:63]


def plural(name: str) -> str:
    word = snake(name)
    if word.endswith("s"):
        return word
    if word.endswith("y") and not word.endswith(("ay", "ey", "oy", "uy")):
        return word[:-1] + "ies"
    return word + "s"


class Importer:
    def __init__(self, document: dict[str, Any], name: str):
        self.document = document
        self.name = name
        self.schemas: dict[str, Any] = document.get("components", {}).get("schemas", {}) or {}
        self.unmapped: list[str] = []
        self.collections: dict[str, dict[str, Any]] = {}
        self.shapes: dict[str, dict[str, Any]] = {}
        # schema name -> (collection, shape)
        self.resources: dict[str, tuple[str, str]] = {}
        self.routes: dict[str, dict[str, Any]] = {}
        self.refs = References(document)
        # collection -> the serial field that is its integer id in the document
        self.integer_keys: dict[str, str] = {}

    # -- schemas -------------------------------------------------------------------------------

    def resolve(self, schema: Any, depth: int = 0) -> tuple[str | None, dict[str, Any]]:
        """(the component's name if it is a $ref, the schema it names); a schema made of
        itself (allOf: [$ref: itself]) is cut off."""
        if depth > MAX_DEPTH:
            return None, {}
        seen = 0
        name = None
        while isinstance(schema, dict) and "$ref" in schema and seen < 20:
            reference = schema["$ref"]
            if not reference.startswith("#/components/schemas/"):
                return None, {}
            name = reference.rsplit("/", 1)[1]
            schema = self.schemas.get(name, {})
            seen += 1
        if isinstance(schema, dict) and ("anyOf" in schema or "oneOf" in schema):
            # A nullable value (anyOf: [X, null]) is X; a real choice stays as it is.
            choices = [
                c for c in schema.get("anyOf", schema.get("oneOf", [])) if c != {"type": "null"}
            ]
            if len(choices) == 1:
                return self.resolve(choices[0], depth + 1)
        if isinstance(schema, dict) and "allOf" in schema:
            merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
            for part in schema["allOf"]:
                _part_name, resolved = self.resolve(part, depth + 1)
                merged["properties"].update(resolved.get("properties", {}))
                merged["required"] += resolved.get("required", [])
            return name, merged
        return name, schema if isinstance(schema, dict) else {}

    def record_of(self, schema: Any) -> tuple[str | None, str | None, bool, str | None]:
        """What a response or request body holds: (envelope, record schema name, is a list,
        the key of an integer total beside a list)."""
        name, resolved = self.resolve(schema)
        if resolved.get("type") == "array" or "items" in resolved:
            item_name, _item = self.resolve(resolved.get("items", {}))
            return None, item_name, True, None
        properties = resolved.get("properties", {})
        if name is not None and not self._is_envelope(resolved):
            return None, name, False, None
        records = [
            (key, value)
            for key, value in properties.items()
            if self._record_like(value) or self._list_of_records(value)
        ]
        if len(records) != 1:
            return None, name, False, None
        key, value = records[0]
        inner_name, inner = self.resolve(value)
        if inner.get("type") == "array" or "items" in inner:
            item_name, _item = self.resolve(inner.get("items", {}))
            counts = [
                k
                for k, v in properties.items()
                if k != key and self.resolve(v)[1].get("type") == "integer"
            ]
            return key, item_name, True, counts[0] if counts else None
        return key, inner_name, False, None

    def _is_envelope(self, schema: dict[str, Any]) -> bool:
        properties = schema.get("properties", {})
        wrapped = [
            v for v in properties.values() if self._record_like(v) or self._list_of_records(v)
        ]
        return len(wrapped) == 1 and len(properties) <= 3

    def _record_like(self, schema: Any) -> bool:
        name, resolved = self.resolve(schema)
        return name is not None and bool(resolved.get("properties"))

    def _list_of_records(self, schema: Any) -> bool:
        _name, resolved = self.resolve(schema)
        return resolved.get("type") == "array" and self._record_like(resolved.get("items", {}))

    def collection_for(self, schema_name: str) -> tuple[str, str]:
        """The collection and shape made from a record schema (made on first use)."""
        if schema_name in self.resources:
            return self.resources[schema_name]
        collection = plural(schema_name)
        shape = snake(schema_name)
        self.resources[schema_name] = (collection, shape)
        _name, schema = self.resolve({"$ref": f"#/components/schemas/{schema_name}"})
        fields: dict[str, Any] = {}
        shape_fields: dict[str, Any] = {}
        required = set(schema.get("required", []))
        self.collections[collection] = {
            "fields": fields,
            "rules": {"list": "public", "view": "public"},
        }
        properties = schema.get("properties", {})
        for output, property_schema in properties.items():
            if output == "id" and self.resolve(property_schema)[1].get("type") == "integer":
                # Integer ids (1, 2, 3...): a serial number the store gives, shown as the id.
                number = "number" if "number" not in properties else "serial_number"
                fields[number] = {"type": "int", "serial": True, "unique": True}
                shape_fields[output] = number
                self.integer_keys[collection] = number
                continue
            if output in SYSTEM_NAMES:
                shape_fields[output] = SYSTEM_NAMES[output]
                continue
            field_name = snake(output)
            if field_name in SYSTEM_FIELDS:
                field_name = f"{field_name}_value"
            declared = self._field(schema_name, output, property_schema, output in required)
            if declared is None:
                continue
            if "nested" in declared:
                nested_shape, relation = declared["nested"], declared["relation"]
                fields[field_name] = relation
                shape_fields[output] = {"shape": nested_shape, "of": field_name}
                continue
            fields[field_name] = declared
            shape_fields[output] = field_name
        self.shapes[shape] = {"collection": collection, "fields": shape_fields}
        return collection, shape

    def _field(self, owner: str, output: str, schema: Any, required: bool) -> dict[str, Any] | None:
        name, resolved = self.resolve(schema)
        if name is not None and resolved.get("properties"):
            if name == owner:
                self.unmapped.append(f"{owner}.{output}: a record inside itself (left out)")
                return None
            target, nested = self.collection_for(name)
            return {"nested": nested, "relation": {"type": "relation", "to": target}}
        kind = resolved.get("type")
        if isinstance(kind, list):  # 3.1: ["string", "null"]
            kind = next((k for k in kind if k != "null"), None)
        declared: dict[str, Any]
        if "enum" in resolved and all(isinstance(v, str) for v in resolved["enum"]):
            declared = {"type": "select", "values": list(dict.fromkeys(resolved["enum"]))}
        elif kind == "string":
            declared = {"type": _string_type(resolved.get("format"))}
            for option, key in (("min_length", "minLength"), ("max_length", "maxLength")):
                if isinstance(resolved.get(key), int) and resolved[key] >= (
                    0 if key == "minLength" else 1
                ):
                    declared[option] = resolved[key]
            if declared["type"] == "text" and isinstance(resolved.get("pattern"), str):
                declared["pattern"] = resolved["pattern"]
        elif kind == "integer":
            declared = {"type": "int"}
        elif kind == "number":
            declared = {"type": "float"}
        elif kind == "boolean":
            declared = {"type": "bool"}
        elif kind in ("object", "array") or kind is None:
            declared = {"type": "json"}
            if kind == "array":
                self.unmapped.append(
                    f"{owner}.{output}: a list, kept as json (a to-many relation may fit better)"
                )
        else:
            self.unmapped.append(f"{owner}.{output}: type {kind!r} (left out)")
            return None
        if kind in ("integer", "number"):
            for option, key in (("min", "minimum"), ("max", "maximum")):
                if isinstance(resolved.get(key), int | float) and not isinstance(
                    resolved[key], bool
                ):
                    declared[option] = resolved[key]
        default = resolved.get("default")
        if default is not None and declared["type"] != "json":
            declared["default"] = default
        if resolved.get("readOnly"):
            declared["readonly"] = True  # the server's to fill (only admins may set it)
        elif required and "default" not in declared:
            declared["required"] = True
        return declared

    # -- operations ----------------------------------------------------------------------------

    def operations(self) -> None:
        """Reads first (they name the records), then writes (which may only name a path)."""
        found = self.document.get("paths")
        items = found.items() if isinstance(found, dict) else ()
        paths = [(p, i) for p, i in items if isinstance(i, dict)]
        for methods in (("get",), ("post", "put", "patch", "delete")):
            for path, item in paths:
                for method in methods:
                    operation = item.get(method)
                    if isinstance(operation, dict):
                        self._operation(method.upper(), path, operation, item.get("parameters", []))

    def _resource_of(self, path: str) -> str | None:
        """The record schema a path names by its last literal segment (/pets/{id} -> Pet)."""
        literal = [s for s in path.strip("/").split("/") if s and not s.startswith("{")]
        if not literal:
            return None
        collection = plural(literal[-1])
        return next((name for name, (c, _s) in self.resources.items() if c == collection), None)

    def _operation(self, method: str, path: str, operation: dict, shared: list) -> None:
        where = f"{method} {path}"
        template = _declared_path(path)
        listed = [*_listed(shared), *_listed(operation.get("parameters"))]
        parameters = [self._parameter(self.refs.resolve(p)) for p in listed]
        path_names = [p["name"] for p in parameters if p and p.get("in") == "path"]
        query_names = [p["name"] for p in parameters if p and p.get("in") == "query"]
        status, answer = _success(operation, self.refs)
        body = _json_schema(self.refs.resolve(operation.get("requestBody")), self.refs)
        envelope, record, many, count = (
            self.record_of(answer) if answer is not None else (None, None, False, None)
        )
        in_envelope, in_record, _many, _count = (
            self.record_of(body) if body is not None else (None, None, False, None)
        )
        record = record or in_record or self._resource_of(path)
        words = path.lower()
        last = path.rstrip("/").rsplit("/", 1)[-1].lower()
        route: dict[str, Any] = {}
        if last in ACCOUNT_SELF and not path_names and record is not None and method != "DELETE":
            kind = "me" if method == "GET" else "update_me"
            route = self._account(kind, record, envelope, in_envelope)
        elif method == "POST" and "login" in words:
            route = self._account("login", record, envelope, in_envelope)
        elif method == "POST" and ("register" in words or "signup" in words or "sign-up" in words):
            route = self._account("signup", record, envelope, in_envelope)
        elif record is None:
            self.unmapped.append(
                f"{where}: no record schema in its answer or body (write a custom endpoint)"
            )
            return
        else:
            collection, shape = self.collection_for(record)
            keys = [n for n in path_names if "{" + n + "}" in path]
            if keys and not path.rstrip("/").endswith("{" + keys[-1] + "}"):
                self.unmapped.append(
                    f"{where}: an action below {{{keys[-1]}}} (a link, or a custom endpoint)"
                )
                return
            operation_name = _operation_name(method, many, bool(keys))
            if operation_name is None:
                self.unmapped.append(f"{where}: no operation fits {method} with this path")
                return
            route = {operation_name: collection}
            if keys and operation_name != "list":
                key = self._key_name(keys[-1], record)
                if key == "id":
                    key = self.integer_keys.get(collection, key)
                route["key"] = key
                if key != keys[-1]:  # {todoId}: the contract's name for the id
                    route["key_param"] = keys[-1]
                self._ensure_key(collection, key)
                for extra in keys[:-1]:
                    self.unmapped.append(f"{where}: path parameter {{{extra}}} (left out)")
                    return
            elif keys:
                self.unmapped.append(f"{where}: a list below {{{keys[0]}}} (declare its parent)")
                return
            if operation_name == "list":
                self._query(route, query_names, collection, where)
                if envelope is None and "paging" not in route:
                    route["paging"] = {"style": "none"}  # a plain array: every record
            response: dict[str, Any] = {} if operation_name == "delete" else {"shape": shape}
            if envelope:
                response["envelope"] = envelope
            if count and operation_name == "list":
                response["count"] = count
            if response:
                route["response"] = response
            if in_envelope is not None and in_envelope != envelope:
                route["request"] = {"envelope": in_envelope, "shape": shape}
            rules = self.collections[collection]["rules"]
            if operation_name in ("create", "update", "delete") and operation_name not in rules:
                rules[operation_name] = None  # admins only until someone says who may
                self.unmapped.append(
                    f"{where}: who may {operation_name} {collection}? (admins only for now)"
                )
        if not route:
            return
        default = {"create": 201, "signup": 201, "delete": 204}.get(next(iter(route)), 200)
        if status is not None and status != default and 200 <= status <= 299:
            route["status"] = status
        if operation.get("summary"):
            route["summary"] = str(operation["summary"])[:200]
        self.routes[f"{method} {template}"] = route

    def _account(
        self, kind: str, record: str | None, envelope: str | None, in_envelope: str | None
    ):
        collection = "users"
        if record is not None:
            collection, shape = self.collection_for(record)
        else:
            self.collections.setdefault(collection, {"fields": {}, "rules": {}})
            shape = None
        declared = self.collections[collection]
        declared.setdefault("auth", {"signup": "open", "login": ["email"]})
        declared["rules"].setdefault("view", "id = auth.id")
        # Secrets are the account's own: no password field; a token is the session's.
        for secret in ("password", "password_hash"):
            declared["fields"].pop(secret, None)
        if shape is not None:
            outputs = self.shapes[shape]["fields"]
            for output in list(outputs):
                if output in ("password", "passwordHash"):
                    del outputs[output]
                elif snake(output) in ("token", "access_token", "jwt"):
                    declared["fields"].pop(snake(output), None)
                    outputs[output] = "session.access_token"
                elif snake(output) == "refresh_token":
                    declared["fields"].pop("refresh_token", None)
                    outputs[output] = "session.refresh_token"
        route: dict[str, Any] = {kind: collection}
        response: dict[str, Any] = {}
        if shape is not None:
            response["shape"] = shape
        if envelope:
            response["envelope"] = envelope
        if response:
            route["response"] = response
        if in_envelope is not None and in_envelope != envelope:
            route["request"] = {"envelope": in_envelope}
        return route

    @staticmethod
    def _key_name(parameter: str, record: str) -> str:
        """{id}, {petId}, {pet_id} name the record's id; {slug} its slug field."""
        name = snake(parameter)
        if name == "id" or name in (f"{snake(record)}_id", f"{snake(record)}id"):
            return "id"
        return name

    def _ensure_key(self, collection: str, key: str) -> None:
        if key == "id":
            return
        fields = self.collections[collection]["fields"]
        fields.setdefault(key, {"type": "text"})
        fields[key]["unique"] = True
        if fields[key].get("type") not in ("text", "email", "url", "int", "select"):
            fields[key] = {"type": "text", "unique": True}

    def _query(self, route: dict, names: list[str], collection: str, where: str) -> None:
        fields = self.collections[collection]["fields"]
        query = {}
        paging = {n for n in names if n in PAGING}
        for name in names:
            if name in paging:
                continue
            field_name = snake(name)
            if field_name in fields and fields[field_name].get("type") not in ("json", "relation"):
                operator = (
                    "~"
                    if fields[field_name]["type"] in ("text",) and name in ("q", "search")
                    else "="
                )
                query[field_name] = f"{field_name} {operator} params.{field_name}"
                if field_name != name:
                    self.unmapped.append(
                        f"{where}: query parameter '{name}' is '{field_name}' here"
                    )
            else:
                self.unmapped.append(
                    f"{where}: query parameter '{name}' (no field; write its filter)"
                )
        if query:
            route["query"] = query
        if {"limit", "offset"} <= paging or paging == {"limit"}:
            route["paging"] = {"style": "offset"}
        elif paging:
            self.unmapped.append(f"{where}: paging by {', '.join(sorted(paging))} (set paging)")

    @staticmethod
    def _parameter(parameter: Any) -> dict[str, Any] | None:
        return parameter if isinstance(parameter, dict) and "name" in parameter else None

    def draft(self) -> Draft:
        self.operations()
        accounts = any("auth" in c for c in self.collections.values())
        for name, collection in self.collections.items():
            if collection["rules"].get("create", "") is None and accounts:
                # With accounts, a signed-in caller may create (still to review).
                collection["rules"]["create"] = "auth.id != null"
                self.unmapped = [u for u in self.unmapped if f"create {name}?" not in u]
        for collection in self.collections.values():
            if not collection["rules"]:
                collection["rules"] = {"view": "public"}
        declaration: dict[str, Any] = {
            "name": self.name,
            "description": str((self.document.get("info") or {}).get("title", ""))[:200] or None,
            "collections": self.collections,
            "shapes": self.shapes,
            "routes": self.routes,
        }
        return Draft({k: v for k, v in declaration.items() if v is not None}, self.unmapped)


def _string_type(format_: Any) -> str:
    return {
        "email": "email",
        "uri": "url",
        "url": "url",
        "date": "date",
        "date-time": "datetime",
    }.get(format_, "text")


def _success(operation: dict, refs: References) -> tuple[int | None, Any]:
    responses = operation.get("responses")
    if not isinstance(responses, dict):
        return None, None
    for status, answer in sorted(responses.items(), key=lambda i: str(i[0])):
        if str(status).startswith("2") and str(status).isdigit():
            return int(status), _json_schema(refs.resolve(answer), refs)
    return None, None


def _json_schema(holder: Any, refs: References) -> Any:
    """The schema of a response's or request body's JSON content (or of its only content)."""
    content = holder.get("content") if isinstance(holder, dict) else None
    if not isinstance(content, dict) or not content:
        return None
    media = refs.resolve(content.get("application/json") or next(iter(content.values())))
    return media.get("schema") if isinstance(media, dict) else None


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _operation_name(method: str, many: bool, keyed: bool) -> str | None:
    if method == "GET":
        return "get" if keyed and not many else ("list" if many else None)
    if method == "POST" and not keyed:
        return "create"
    if method in ("PUT", "PATCH") and keyed:
        return "update"
    if method == "DELETE" and keyed:
        return "delete"
    return None


def _declared_path(path: str) -> str:
    """The path with each {parameter} a name backforge takes (the contract's, when it is)."""
    return re.sub(
        r"\{([^{}]+)\}",
        lambda m: (
            "{" + (m.group(1) if PARAMETER_NAME.match(m.group(1)) else snake(m.group(1))) + "}"
        ),
        path,
    )


def draft_from_openapi(document: dict[str, Any], name: str) -> Draft:
    """The draft and its unmapped parts; routes `check` refuses are moved to the unmapped."""
    from ..http.declared import check_routes_of
    from ..spec import DeclarationError, load_dict

    if not IDENTIFIER.match(name.replace("-", "_").lower()):
        title = str((document.get("info") or {}).get("title", ""))
        name = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60] or "imported"
        if not name[0].isalpha():
            name = "imported"
    draft = Importer(document, name).draft()
    while True:  # each round leaves out at least one part, so this ends
        try:
            problems = check_routes_of(load_dict(draft.declaration))
            if not problems:
                return draft
            raise DeclarationError("<draft>", problems)
        except DeclarationError as exc:
            left_out = [_leave_out(draft, problem) for problem in exc.problems]
            if not any(left_out):
                raise


def _leave_out(draft: Draft, problem: Problem) -> bool:
    """Drop the route, field or shape entry a problem is about, noting it as unmapped."""
    path, declaration = problem.path, draft.declaration
    if len(path) >= 2 and path[0] == "routes":
        owner, key, where = declaration.get("routes", {}), path[1], str(path[1])
    elif len(path) >= 4 and path[0] in ("collections", "shapes") and path[2] == "fields":
        owner = declaration.get(path[0], {}).get(path[1], {}).get("fields", {})
        key, where = path[3], f"{path[1]}.{path[3]}"
    else:
        return False
    if not isinstance(owner, dict) or owner.pop(key, None) is None:
        return False
    draft.unmapped.append(f"{where}: {problem.message} (left out)")
    if path[0] == "collections":  # the shapes showing the field show it no more
        for shape in declaration.get("shapes", {}).values():
            outputs = shape.get("fields")
            if shape.get("collection") == path[1] and isinstance(outputs, dict):
                for output in [o for o, value in outputs.items() if value == key]:
                    del outputs[output]
    return True
