"""OpenAPI 3.1 from the declaration, exact to the validation the API performs."""

from __future__ import annotations

import re
from typing import Any

from .. import __version__
from ..files.names import STORED_NAME
from ..rules.parser import MAX_DEPTH
from ..spec.model import Collection, Field, Relation, Spec
from ..spec.semantics import CALLER_DEFAULT
from ..store.ids import ID_PATTERN
from ..store.links import MAX_MEMBERS
from ..store.validation import INT_MAX, INT_MIN
from .batch import serves_batch
from .custom import Endpoints
from .openapi_auth import auth_paths, security_schemes
from .openapi_custom import custom_paths
from .openapi_files import file_paths, multipart_content
from .openapi_routes import RouteDocument
from .openapi_tags import document_tags, tag_operation

PROBLEM = {"$ref": "#/components/schemas/Problem"}
ID_SCHEMA = {"type": "string", "pattern": ID_PATTERN.pattern}
DATETIME = {"type": "string", "format": "date-time"}
DECIMAL_TEXT = r"^-?\d+(\.\d+)?$"
IF_MATCH_PATTERN = r'^(\*|(W/)?"[0-9]{1,9}"( ?, ?(W/)?"[0-9]{1,9}")*)$'


def _number(value: Any) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def _int_minimum(field: Field) -> int | float:
    if field.serial:
        return 1  # numbered from 1
    return _number(field.min) if field.min is not None else INT_MIN


def value_schema(field: Field, *, for_input: bool) -> dict[str, Any]:
    """The schema of one field's (non-null) value, as sent (input) or as returned."""
    schema: dict[str, Any]
    match field.type:
        case "text" | "email" | "url":
            schema = {"type": "string"}
            if field.type == "email":
                schema["format"] = "email"
            if field.type == "url":
                schema["format"] = "uri"
                schema["pattern"] = field.pattern or "^https?://"
            if field.min_length is not None:
                schema["minLength"] = field.min_length
            if field.max_length is not None:
                schema["maxLength"] = field.max_length
            if field.pattern is not None:
                schema["pattern"] = field.pattern
        case "int":
            schema = {
                "type": "integer",
                "minimum": _int_minimum(field),
                "maximum": _number(field.max) if field.max is not None else INT_MAX,
            }
        case "float" | "decimal":
            schema = {"type": "number"}
            if field.min is not None:
                schema["minimum"] = _number(field.min)
            if field.max is not None:
                schema["maximum"] = _number(field.max)
            if field.type == "decimal":
                schema["multipleOf"] = 10**-field.decimal_places if field.decimal_places else 1
                text = {"type": "string", "pattern": DECIMAL_TEXT, "format": "decimal"}
                schema = {"anyOf": [schema, text]} if for_input else text
        case "bool":
            schema = {"type": "boolean"}
        case "date":
            schema = {"type": "string", "format": "date"}
        case "datetime":
            schema = dict(DATETIME)
        case "json":
            schema = {}
        case "select":
            schema = {"type": "string", "enum": list(field.values or [])}
        case "relation":
            schema = dict(ID_SCHEMA)
        case "file":  # the stored names; files themselves come in multipart bodies
            name = {"type": "string", "pattern": STORED_NAME.pattern}
            schema = {"type": "array", "items": name} if field.multiple else name
        case _:
            schema = {}
    if field.description:
        schema["description"] = field.description
    return schema


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if not schema:
        return schema
    return {"anyOf": [schema, {"type": "null"}]}


def relation_value_schema(spec: Spec, relation: Relation, *, for_input: bool) -> dict[str, Any]:
    """A stored relation's value: a list of ids, or of the key field's values."""
    if relation.key is None:
        item = ID_SCHEMA
    else:
        item = value_schema(spec.collections[relation.to].fields[relation.key], for_input=for_input)
    schema: dict[str, Any] = {"type": "array", "items": item}
    if for_input:
        schema["maxItems"] = MAX_MEMBERS
    return schema


def record_schema(spec: Spec, collection: Collection) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "id": ID_SCHEMA,
        "created": DATETIME,
        "updated": DATETIME,
        "version": {"type": "integer", "minimum": 1},
    }
    for name, field in collection.fields.items():
        if field.hidden:
            continue
        schema = value_schema(field, for_input=False)
        # A read rule turns the value into null for callers it does not admit.
        properties[name] = schema if field.required and not field.read else _nullable(schema)
    for name, relation in collection.relations.items():
        if relation.stored:
            properties[name] = relation_value_schema(spec, relation, for_input=False)
    return {"type": "object", "properties": properties, "required": ["id"]}


def write_schema(spec: Spec, collection: Collection, *, partial: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {
        name: relation_value_schema(spec, relation, for_input=True)
        for name, relation in collection.relations.items()
        if relation.stored
    }
    required = []
    for name, field in collection.fields.items():
        if field.hidden or field.readonly or field.serial:
            continue  # never writable (read-only fields: by admins only)
        schema = value_schema(field, for_input=True)
        properties[name] = schema if field.required else _nullable(schema)
        if (
            field.required
            and field.default is None
            and not field.slug_from
            and field.type != "file"  # uploaded in a multipart body
            and not partial
        ):
            required.append(name)
        if field.default is not None and field.default != CALLER_DEFAULT:
            properties[name] = {**properties[name], "default": field.default}
    options = collection.auth_options
    if options is not None and not partial:  # PATCH refuses it, but from admins
        password = {
            "type": "string",
            "minLength": options.min_password_length,
            "maxLength": 256,
            "writeOnly": True,
        }
        properties["password"] = _nullable(password)
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    return schema


def _title(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


# Any operation may answer these: a bad credential, a rate limit, an over-long query string.
ALWAYS = (401, 414, 429)


def _responses(*statuses: int) -> dict[str, Any]:
    return problem_responses(*statuses, *ALWAYS)


def problem_responses(*statuses: int) -> dict[str, Any]:
    descriptions = {
        400: "The request is invalid",
        401: "The credential is missing, invalid or expired",
        408: "The body did not arrive in time",
        414: "The query string is too long",
        429: "Too many requests; see Retry-After",
        403: "The caller may not do this",
        404: "No such record, or the caller may not see it",
        409: "A unique value is taken, or a related record prevents the change",
        412: "If-Match does not match the record's current version",
        413: "The body is too large",
        415: "The body is not JSON",
        422: "The body does not validate",
        503: "The database is unavailable",
    }
    return {
        str(s): {
            "description": descriptions[s],
            "content": {"application/problem+json": {"schema": PROBLEM}},
        }
        for s in sorted(set(statuses))
    }


def _record_response(ref: str, description: str, status: str) -> dict[str, Any]:
    return {
        status: {
            "description": description,
            "headers": {"ETag": {"schema": {"type": "string"}, "description": "The version"}},
            "content": {"application/json": {"schema": {"$ref": ref}}},
        }
    }


# (on a record path, method) -> the record operation it serves
_OPERATION_OF = {
    (False, "get"): "list",
    (False, "post"): "create",
    (True, "get"): "view",
    (True, "patch"): "update",
    (True, "delete"): "delete",
}


def build_openapi(spec: Spec, endpoints: Endpoints | None = None) -> dict[str, Any]:
    settings = spec.settings
    schemas: dict[str, Any] = {"Problem": _problem_schema()}
    paths: dict[str, Any] = {}
    for name, collection in spec.collections.items():
        if collection.link_of is not None:
            continue
        title = _title(name)
        schemas[title] = record_schema(spec, collection)
        schemas[f"{title}Create"] = write_schema(spec, collection, partial=False)
        schemas[f"{title}Update"] = write_schema(spec, collection, partial=True)
        schemas[f"{title}Page"] = {
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{title}"}},
                "next_cursor": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                "total": {"type": "integer", "minimum": 0},
            },
            "required": ["items", "next_cursor"],
        }
        ref = f"#/components/schemas/{title}"
        selection = _selection_parameters(collection)
        id_parameter = {"name": "id", "in": "path", "required": True, "schema": ID_SCHEMA}
        if_match = {
            "name": "If-Match",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "pattern": IF_MATCH_PATTERN},
            "description": "The ETag of the version you read; a mismatch answers 412",
        }
        collection_path = {
            "get": {
                "operationId": f"list_{name}",
                "summary": f"List {name}",
                "parameters": _list_parameters(
                    collection, settings.max_page_size, settings.max_filter_length
                )
                + selection,
                "responses": {
                    "200": {
                        "description": "A page of records",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": f"#/components/schemas/{title}Page"}
                            }
                        },
                    },
                    **_responses(400, 403, 503),
                },
            },
            "post": {
                "operationId": f"create_{name}",
                "summary": f"Create a record in {name}",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": f"#/components/schemas/{title}Create"}
                        },
                        **multipart_content(collection, partial=False),
                    },
                },
                "responses": {
                    **_record_response(ref, "The created record", "201"),
                    **_responses(400, 403, 408, 409, 413, 415, 422, 503),
                },
            },
        }
        record_path = {
            "get": {
                "operationId": f"get_{name}",
                "summary": f"Get one record of {name}",
                "parameters": [id_parameter, *selection],
                "responses": {
                    **_record_response(ref, "The record", "200"),
                    **_responses(400, 404, 503),
                },
            },
            "patch": {
                "operationId": f"update_{name}",
                "summary": f"Change fields of a record of {name}",
                "parameters": [id_parameter, if_match],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": f"#/components/schemas/{title}Update"}
                        },
                        **multipart_content(collection, partial=True),
                    },
                },
                "responses": {
                    **_record_response(ref, "The changed record", "200"),
                    **_responses(400, 403, 404, 408, 409, 412, 413, 415, 422, 503),
                },
            },
            "delete": {
                "operationId": f"delete_{name}",
                "summary": f"Delete a record of {name}",
                "parameters": [id_parameter, if_match],
                "responses": {
                    "204": {"description": "Deleted"},
                    **_responses(400, 403, 404, 409, 412, 503),
                },
            },
        }
        rules = collection.rules
        for document, rule in (
            (collection_path["get"], rules.list),
            (collection_path["post"], rules.create),
            (record_path["get"], rules.view),
            (record_path["patch"], rules.update),
            (record_path["delete"], rules.delete),
        ):
            tag_operation(document, name, rule)
        for path, operations in (
            (f"/api/{name}", collection_path),
            (f"/api/{name}/{{id}}", record_path),
        ):
            served = {
                method: operation
                for method, operation in operations.items()
                if collection.serves(_OPERATION_OF[(path.endswith("}"), method)])
            }
            if served:
                paths[path] = served
        if collection.serves("view"):
            paths.update(file_paths(name, collection))

    def record_ref(collection: str) -> str:
        title = _title(collection)
        if title not in schemas:
            schemas[title] = record_schema(spec, spec.collections[collection])
        return f"#/components/schemas/{title}"

    def body_schema(collection: str, partial: bool) -> dict[str, Any]:
        return write_schema(spec, spec.collections[collection], partial=partial)

    declared = RouteDocument(spec, schemas, value_schema, record_ref, body_schema)
    for path, operations in declared.paths().items():
        paths.setdefault(path, {}).update(operations)
    every_path = paths
    batch_records = None
    if serves_batch(spec):
        written = [
            n for n, c in spec.collections.items() if c.serves("create") or c.serves("update")
        ]
        batch_records = [record_ref(name) for name in written]
    more = (
        auth_paths(spec, schemas),
        custom_paths(
            endpoints,
            schemas,
            problem_responses(400, 401, 403, 404, 408, 409, 412, 413, 414, 415, 422, 429, 503),
            batch_records,
        ),
    )
    for extra in more:  # by method: a custom DELETE /todos keeps the declared GET /todos
        for path, operations in extra.items():
            every_path.setdefault(path, {}).update(operations)
    _unique_operation_ids(every_path)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": spec.name,
            "version": __version__,
            "description": spec.description or f"The {spec.name} API, served by backforge.",
        },
        "paths": every_path,
        "tags": document_tags(spec, every_path),
        "components": {"schemas": schemas, "securitySchemes": security_schemes(spec)},
        "security": [{}, {"bearer": []}, {"apiKey": []}, {"session": []}],
    }


def _unique_operation_ids(paths: dict[str, Any]) -> None:
    """A later operation whose id is taken (a declared GET /books beside the record route
    get_books) gets a numbered one: generated clients need them unique."""
    seen: set[str] = set()
    for operations in paths.values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "operationId" not in operation:
                continue
            base = name = operation["operationId"]
            number = 2
            while name in seen:
                name, number = f"{base}_{number}", number + 1
            operation["operationId"] = name
            seen.add(name)


def name_list_pattern(names: list[str], signed: bool = False) -> str:
    """A pattern for a comma-separated list of the given names (optionally '-'-prefixed)."""
    if not names:
        return "^$"
    choice = "(" + "|".join(re.escape(n) for n in names) + ")"
    item = ("-?" if signed else "") + choice
    return f"^({item}(,{item})*)?$"


def _selection_parameters(collection: Collection) -> list[dict[str, Any]]:
    stored = [n for n, r in collection.relations.items() if r.stored]
    fields = ["id", "created", "updated", "version", *collection.fields, *stored]
    relations = [n for n, f in collection.fields.items() if f.type == "relation"]
    return [
        {
            "name": "fields",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "pattern": name_list_pattern(fields)},
            "description": "Comma-separated fields to return (id always comes), e.g. title,price",
        },
        {
            "name": "expand",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "pattern": name_list_pattern(relations)},
            "description": "Comma-separated relations to expand: "
            + (", ".join(relations) or "none"),
        },
    ]


def _list_parameters(collection: Collection, max_page: int, max_filter: int) -> list[dict]:
    sortable = [
        "id",
        "created",
        "updated",
        *(n for n, f in collection.fields.items() if f.type != "json"),
    ]
    return [
        {
            "name": "filter",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "maxLength": max_filter},
            "description": 'An expression, e.g. (status = "published" && views > 10) || '
            f'author.name ~ "ann"; at most {MAX_DEPTH} levels deep',
        },
        {
            "name": "sort",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "pattern": name_list_pattern(sortable, signed=True)},
            "description": "Comma-separated fields, '-' for descending, e.g. -created,title",
        },
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": max_page},
        },
        {
            "name": "cursor",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]*$"},
            "description": "next_cursor of the previous page",
        },
        {
            "name": "total",
            "in": "query",
            "required": False,
            "schema": {"type": "boolean"},
            "description": "Also count every matching record",
        },
    ]


def _problem_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"path": {"type": "string"}, "message": {"type": "string"}},
                    "required": ["path", "message"],
                },
            },
            "field": {"type": "string"},
            "parameter": {"type": "string"},
            "position": {"type": "integer"},
        },
        "required": ["type", "title", "status", "detail"],
    }
