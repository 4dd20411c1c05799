"""Declared routes and shapes in the OpenAPI document: exact to what they accept and answer."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ..rules import ExpressionError, RecordScope, compile_expression, parse
from ..rules.ast import Call, Constant, Literal, Path
from ..rules.params import Parameters
from ..rules.parser import parse_value
from ..schema.tables import build_metadata
from ..spec.model import SYSTEM_FIELDS, Spec
from ..spec.route_checks import parent_field
from ..spec.routes import (
    DEFAULT_STATUS,
    KEYED,
    WITH_BODY,
    NestedShape,
    Route,
    error_shape,
    path_parameters,
    split_route_key,
)
from ..store.access import caller_placeholders
from .declared import LOGIN_FIELDS, MAX_OFFSET
from .error_shapes import PLACEHOLDER
from .openapi_auth import tokens_schema
from .openapi_tags import tag_operation

ID_PATTERN = r"^[a-z0-9]{15}$"
_NULL = {"type": "null"}
# The rule that governs each record operation of a declared route.
_RULE_OF = {
    "list": "list",
    "count": "list",
    "get": "view",
    "create": "create",
    "update": "update",
    "delete": "delete",
    "link": "update",
    "unlink": "update",
}
_STATUSES = {
    400: "The query is invalid",
    401: "The credential is missing, invalid or expired",
    403: "The caller may not do this",
    404: "No such record, or the caller may not see it",
    408: "The body did not arrive in time",
    409: "A unique value is taken, or a related record prevents the change",
    412: "If-Match does not match the record's current version",
    413: "The body is too large",
    414: "The query string is too long",
    415: "The body is not JSON",
    422: "The body does not validate",
    429: "Too many requests; see Retry-After",
    503: "The database is unavailable",
}
_KIND_SCHEMAS: dict[str, dict[str, Any]] = {
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "decimal": {"type": "string", "pattern": r"^-?\d+(\.\d+)?$"},
    "bool": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
    "id": {"type": "string", "pattern": ID_PATTERN},
    "relation": {"type": "string", "pattern": ID_PATTERN},
}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, _NULL]} if schema else schema


class RouteDocument:
    """The paths of every declared route, and the schemas of the shapes they answer with."""

    def __init__(
        self,
        spec: Spec,
        schemas: dict[str, Any],
        value_schema: Callable[..., dict[str, Any]],
        record_schema: Callable[[str], str],
        write_schema: Callable[[str, bool], dict[str, Any]],
    ):
        """`record_schema(collection)` gives the $ref of a collection's record (adding it);
        `write_schema(collection, partial)` its create or update body."""
        self.spec = spec
        self.schemas = schemas
        self.value_schema = value_schema
        self.record_schema = record_schema
        self.write_schema = write_schema
        self.tables = build_metadata(spec).tables
        self.shape_refs: dict[str, str] = {}

    # -- shapes --------------------------------------------------------------------------------

    def shape_ref(self, name: str) -> str:
        if name not in self.shape_refs:
            title = "".join(p.capitalize() for p in name.split("_"))
            if title in self.schemas:
                title += "Shape"
            self.shape_refs[name] = f"#/components/schemas/{title}"
            self.schemas[title] = {}  # placed first: nested shapes may refer to it
            self.schemas[title] = self._shape_schema(name)
        return self.shape_refs[name]

    def _shape_schema(self, name: str) -> dict[str, Any]:
        shape = self.spec.shapes[name]
        properties = {
            output: self._part_schema(shape.collection, value) for output, value in shape.items()
        }
        return {"type": "object", "properties": properties, "required": list(properties)}

    def _part_schema(self, collection: str, value: str | NestedShape) -> dict[str, Any]:
        declared = self.spec.collections[collection]
        if isinstance(value, NestedShape):
            ref = {"$ref": self.shape_ref(value.shape)}
            if value.of in declared.relations:
                return {"type": "array", "items": ref}
            return nullable(ref)
        node = parse_value(value)
        if isinstance(node, Path):
            head = node.parts[0]
            if head == "session":
                if node.parts[-1] == "expires_in":
                    return nullable({"type": "integer"})
                return nullable({"type": "string"})
            if head in ("params", "auth"):
                return {}
            return self._path_schema(collection, node.parts)
        if isinstance(node, Call) and node.function == "count":
            return {"type": "integer", "minimum": 0}
        if isinstance(node, Call) and node.function != "any":
            # sum, avg, min, max of a field: its type (avg of whole numbers is a number);
            # null over no record, except sum
            target = self._path_schema(collection, node.path.parts)
            if node.function == "avg":
                return nullable({"type": "number"})
            return target if node.function == "sum" else nullable(_plain(target))
        if isinstance(node, Literal | Constant):
            return {"const": node.value}
        return {"type": "boolean"}

    def _path_schema(self, collection: str, parts: tuple[str, ...]) -> dict[str, Any]:
        declared = self.spec.collections[collection]
        name = parts[0]
        if len(parts) > 1:
            many = declared.relations.get(name)
            target = many.to if many is not None else declared.fields[name].to
            assert target is not None
            return nullable(_plain(self._path_schema(target, parts[1:])))
        if name in SYSTEM_FIELDS:
            return {"version": {"type": "integer", "minimum": 1}}.get(
                name, _KIND_SCHEMAS["datetime"] if name != "id" else _KIND_SCHEMAS["id"]
            )
        relation = declared.relations.get(name)
        if relation is not None:
            item = _KIND_SCHEMAS["id"]
            if relation.key is not None:
                item = self.value_schema(
                    self.spec.collections[relation.to].fields[relation.key], for_input=False
                )
            return {"type": "array", "items": item}
        field = declared.fields[name]
        schema = self.value_schema(field, for_input=False)
        return schema if field.required and not field.read else nullable(schema)

    # -- routes --------------------------------------------------------------------------------

    def paths(self) -> dict[str, Any]:
        paths: dict[str, Any] = {}
        for key, route in self.spec.routes.items():
            parsed = split_route_key(key)
            assert parsed is not None
            method, path = parsed
            paths.setdefault(path, {})[method.lower()] = self._operation(key, route, path)
        return paths

    def _operation(self, key: str, route: Route, path: str) -> dict[str, Any]:
        operation, target = route.operation
        collection = target.partition(".")[0]
        document: dict[str, Any] = {
            "operationId": _operation_id(key),
            "summary": route.summary or f"{operation} {target}",
        }
        if route.description:
            document["description"] = route.description
        rule_name = _RULE_OF.get(operation)
        rules = self.spec.collections[collection].rules
        # Account operations (signup, login, me...) follow the auth options, not a rule.
        tag_operation(document, collection, getattr(rules, rule_name) if rule_name else "")
        parameters = self._path_parameters(route, collection, path) + self._query_parameters(
            route, collection, operation, path
        )
        if parameters:
            document["parameters"] = parameters
        body = self._request_body(route, operation, collection, path)
        if body is not None:
            document["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": body}},
            }
        status = route.status or DEFAULT_STATUS.get(operation, 200)
        success: dict[str, Any] = {"description": "Success"}
        answer = self._response_schema(route, operation, collection)
        if status != 204 and operation not in ("delete", "logout"):
            success["content"] = {"application/json": {"schema": answer}}
        document["responses"] = {str(status): success, **self._errors(route, operation)}
        return document

    def _path_parameters(self, route: Route, collection: str, path: str) -> list[dict[str, Any]]:
        declared = self.spec.collections[collection]
        parent = route.parent
        found = []
        keyed = route.operation[0] in KEYED
        for name in path_parameters(path):
            schema: dict[str, Any] = {"type": "string"}
            if parent is not None and name == parent.parameter:
                schema = self._key_schema(parent.collection, parent.key)
            elif keyed and name == route.key_parameter:
                field = route.key_field
                if field == "id" or field in declared.fields:
                    schema = self._key_schema(collection, field)
            found.append({"name": name, "in": "path", "required": True, "schema": schema})
        return found

    def _key_schema(self, collection: str, name: str) -> dict[str, Any]:
        if name == "id":
            return dict(_KIND_SCHEMAS["id"])
        schema = self.value_schema(self.spec.collections[collection].fields[name], for_input=True)
        return {k: v for k, v in schema.items() if k != "description"}

    def _query_parameters(
        self, route: Route, collection: str, operation: str, path: str
    ) -> list[dict[str, Any]]:
        found = []
        if operation in KEYED and route.key_source(path) == "query":
            schema = self._key_schema(collection, route.key_field)
            found.append(
                {"name": route.key_parameter, "in": "query", "required": True, "schema": schema}
            )
        for name, parameter in route.query_parameters().items():
            schema = self._parameter_schema(collection, parameter.filter, name)
            entry = {"name": name, "in": "query", "required": parameter.required, "schema": schema}
            if parameter.description:
                entry["description"] = parameter.description
            found.append(entry)
        paging = route.paging
        if operation == "list" and paging.style != "none":
            settings = self.spec.settings
            largest = paging.max or settings.max_page_size
            found.append(_integer_query(paging.limit, 1, largest))
            if paging.style == "offset":
                found.append(_integer_query(paging.offset, 0, MAX_OFFSET))
            else:
                found.append(
                    {
                        "name": paging.cursor,
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]*$"},
                    }
                )
        if operation == "signup":
            found.append(
                {"name": "invite", "in": "query", "required": False, "schema": {"type": "string"}}
            )
        return found

    def _parameter_schema(self, collection: str, text: str, name: str) -> dict[str, Any]:
        """The type of the field a query parameter is compared with."""
        parameters = Parameters({name: None})
        known = {"params": parameters, "auth": caller_placeholders(self.spec)}
        try:
            compile_expression(
                parse(text), RecordScope(self.spec, self.tables, collection, known=known)
            )
        except ExpressionError:
            return {"type": "string"}
        kinds = {slot.column.kind for slot in parameters.slots if slot.param == name}
        if len(kinds) != 1:
            return {"type": "string"}
        kind = kinds.pop()
        values = next((s.column.values for s in parameters.slots if s.column.values), None)
        if values and kind == "select":
            return {"type": "string", "enum": list(values)}
        if kind == "int":
            return {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1}
        if kind in ("float", "decimal"):
            return {"type": "number"}
        if kind == "bool":
            return {"type": "boolean"}
        return dict(_KIND_SCHEMAS.get(kind, {"type": "string"}))

    def _request_body(
        self, route: Route, operation: str, collection: str, path: str
    ) -> dict[str, Any] | None:
        if operation not in WITH_BODY:
            return None
        request = route.request
        envelope = request.envelope if request is not None else route.response.envelope
        shape_name = request.shape if request is not None else route.response.shape
        if operation == "login":
            schema = _login_schema(self.spec, collection)
        elif operation in ("refresh", "logout"):
            schema = {
                "type": "object",
                "properties": {"refresh_token": {"type": "string", "maxLength": 512}},
                "required": ["refresh_token"],
            }
        else:
            partial = operation in ("update", "update_me")
            schema = self.write_schema(collection, partial)
            server_set = set()
            if route.parent is not None:
                server_set.add(parent_field(self.spec, route, collection))
            schema = _without(schema, server_set)
            if operation == "signup":
                schema = {**schema, "required": [*schema.get("required", []), "password"]}
            if operation in KEYED and route.key_source(path) == "body":
                key = route.key or "id"
                properties = {
                    **schema.get("properties", {}),
                    key: self._key_schema(collection, key),
                }
                required = [*schema.get("required", []), key]
                schema = {**schema, "properties": properties, "required": required}
            if shape_name is not None:
                keep = ("password",) if operation == "signup" else ()
                if operation in KEYED:
                    keep += (route.key_param or route.key_field,)
                schema = self._renamed(schema, shape_name, keep)
        if envelope is None:
            return schema
        return {
            "type": "object",
            "properties": {envelope: schema},
            "required": [envelope],
            "additionalProperties": False,
        }

    def _renamed(
        self, schema: dict[str, Any], shape_name: str, keep: tuple[str, ...]
    ) -> dict[str, Any]:
        """The write schema under the shape's names; fields the shape does not name are gone."""
        outputs = {}
        for output, value in self.spec.shapes[shape_name].items():
            if isinstance(value, str) and re.fullmatch(r"[a-z][a-z0-9_]*", value):
                outputs[value] = output
        properties = {}
        required = []
        for field, sub in schema.get("properties", {}).items():
            name = outputs.get(field, field if field in keep else None)
            if name is None:
                continue
            properties[name] = sub
            if field in schema.get("required", []):
                required.append(name)
        renamed = {"type": "object", "properties": properties, "additionalProperties": False}
        if required:
            renamed["required"] = required
        return renamed

    def _response_schema(self, route: Route, operation: str, collection: str) -> dict[str, Any]:
        response = route.response
        if response.shape is not None:
            item: dict[str, Any] = {"$ref": self.shape_ref(response.shape)}
        elif operation in ("signup", "login", "refresh"):
            item = tokens_schema(self.record_schema(collection))
        else:
            item = {"$ref": self.record_schema(collection)}
        if operation == "count":
            value: dict[str, Any] = {"type": "integer", "minimum": 0}
        elif operation == "list":
            if response.pluck is not None:
                item = self._pluck_schema(route, collection, response.pluck)
            value = {"type": "array", "items": item}
        elif operation in ("create", "update", "update_me") and response.shape is not None:
            value = nullable(item)  # null when the caller may not view what they wrote
        else:
            value = item
        if response.envelope is None:
            return value
        placed: dict[str, Any] = {response.envelope: value}
        if operation == "list" and response.count is not None:
            placed[response.count] = {"type": "integer", "minimum": 0}
        if operation == "list" and route.paging.style == "cursor":
            placed[response.cursor] = nullable({"type": "string"})
        return _nested_object(placed)

    def _pluck_schema(self, route: Route, collection: str, name: str) -> dict[str, Any]:
        shape = route.response.shape
        if shape is not None:
            value = dict(self.spec.shapes[shape].items()).get(name)
            return self._part_schema(collection, value) if value is not None else {}
        return (
            self._path_schema(collection, (name,))
            if name in {*SYSTEM_FIELDS, *self.spec.collections[collection].fields}
            else {}
        )

    def _errors(self, route: Route, operation: str) -> dict[str, Any]:
        statuses = {400, 401, 403, 414, 429, 503}
        if operation in WITH_BODY:
            statuses |= {408, 413, 415, 422}
        if operation in ("get", "update", "delete", "link", "unlink") or route.parent is not None:
            statuses.add(404)
        if operation in ("create", "update", "delete", "link", "unlink", "update_me", "signup"):
            statuses.add(409)
        if operation in ("update", "delete"):
            statuses.add(412)
        shape = error_shape(self.spec.errors, route.errors)
        mapped = {(shape.status.get(s, s) if shape else s) for s in statuses}
        content = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        if shape is not None and shape.body is not None:
            # The middleware's refusals are rewritten too (middleware/contract_errors.py).
            content = {"application/json": {"schema": _template_schema(shape.body)}}
        return {
            str(status): {"description": _STATUSES.get(status, "An error"), "content": content}
            for status in sorted(mapped)
        }


def _template_schema(template: Any) -> dict[str, Any]:
    """The JSON schema of what an error template renders to."""
    if isinstance(template, str):
        whole = PLACEHOLDER.fullmatch(template)
        if whole is not None:
            return {
                "status": {"type": "integer"},
                "errors": {"type": "array", "items": {"type": "object"}},
                "errors_by_field": {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
                "messages": {"type": "array", "items": {"type": "string"}},
            }.get(whole.group(1), {"type": "string"})
        return {"type": "string"}
    if isinstance(template, dict):
        properties = {str(k): _template_schema(v) for k, v in template.items()}
        if any(PLACEHOLDER.search(str(k)) for k in template):
            return {"type": "object"}
        return {"type": "object", "properties": properties, "required": list(properties)}
    if isinstance(template, list):
        return {"type": "array"}
    if template is None:
        return _NULL
    return {"const": template}


def _nested_object(placed: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The schema of an answer whose parts sit at dotted keys ("meta.total")."""
    tree: dict[str, Any] = {}
    for key, schema in placed.items():
        *outer, last = key.split(".")
        node = tree
        for name in outer:
            node = node.setdefault(name, {})
        node[last] = ("schema", schema)  # a leaf, told apart from the dicts of the tree

    def build(node: dict[str, Any]) -> dict[str, Any]:
        properties = {
            name: sub[1] if isinstance(sub, tuple) else build(sub) for name, sub in node.items()
        }
        return {"type": "object", "properties": properties, "required": list(properties)}

    return build(tree)


def _plain(schema: dict[str, Any]) -> dict[str, Any]:
    """A schema without its null alternative (nullable() adds it back once)."""
    if "anyOf" in schema and _NULL in schema["anyOf"]:
        rest = [s for s in schema["anyOf"] if s != _NULL]
        return rest[0] if len(rest) == 1 else {"anyOf": rest}
    return schema


def _without(schema: dict[str, Any], names: set) -> dict[str, Any]:
    if not names:
        return schema
    properties = {k: v for k, v in schema.get("properties", {}).items() if k not in names}
    result = {**schema, "properties": properties}
    if "required" in schema:
        required = [n for n in schema["required"] if n not in names]
        if required:
            result["required"] = required
        else:
            del result["required"]
    return result


def _login_schema(spec: Spec, collection: str) -> dict[str, Any]:
    options = spec.collections[collection].auth_options
    assert options is not None
    properties: dict[str, Any] = {
        "password": {"type": "string", "maxLength": 256},
        "totp": {"type": "string", "maxLength": 10},
    }
    for name in ("email", "username", "identity"):
        if name in options.login or name == "identity":
            properties[name] = {"type": "string", "maxLength": 254}
    assert set(properties) <= set(LOGIN_FIELDS)
    return {"type": "object", "properties": properties, "required": ["password"]}


def _integer_query(name: str, low: int, high: int) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": low, "maximum": high},
    }


def _operation_id(key: str) -> str:
    method, _, path = key.partition(" ")
    words = re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_")
    return f"{method.lower()}_{words}"
