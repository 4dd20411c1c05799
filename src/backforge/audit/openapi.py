"""The target's OpenAPI document: discovery, $ref resolution and a flat list of operations."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from ..openapi_refs import References
from .client import AuditClient, AuditError

DISCOVERY_PATHS = (
    "/openapi.json",
    "/openapi.yaml",
    "/api/openapi.json",
    "/api/openapi.yaml",
    "/openapi",
    "/api/openapi",
    "/docs/openapi.json",
    "/api/docs/openapi.json",
    "/swagger.json",
    "/api/swagger.json",
    "/v3/api-docs",
    "/api-docs",
    "/api/v1/openapi.json",
    "/swagger/v1/swagger.json",
)
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


class DocumentNotFound(AuditError):
    """No OpenAPI document was given or found at the usual paths."""


@dataclass
class Parameter:
    name: str
    location: str  # path, query, header, cookie
    required: bool
    schema: dict[str, Any]


@dataclass(eq=False)
class Operation:
    method: str  # upper case
    path: str  # as in the document, e.g. /api/orders/{id}
    prefix: str  # the servers[0] path, prepended when sending
    operation_id: str | None
    tags: list[str]
    summary: str
    parameters: list[Parameter]
    body_schema: dict[str, Any] | None
    body_media_type: str | None
    body_required: bool
    responses: dict[str, dict[str, Any] | None]  # status key -> JSON schema (None: no JSON body)
    security: list[dict[str, list[str]]]  # effective security requirements
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    # status key -> {JSON media type -> schema}, where a status documents several
    media_schemas: dict[str, dict[str, dict[str, Any]]] = field(repr=False, default_factory=dict)
    # The multipart/form-data body's schema, where the operation takes one (uploads).
    upload_schema: dict[str, Any] | None = field(repr=False, default=None)

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def requires_auth(self) -> bool:
        """True when every alternative of the security requirement needs a scheme."""
        return bool(self.security) and all(req for req in self.security)

    @property
    def path_params(self) -> list[Parameter]:
        return [p for p in self.parameters if p.location == "path"]

    @property
    def query_params(self) -> list[Parameter]:
        return [p for p in self.parameters if p.location == "query"]

    @property
    def text(self) -> str:
        """Everything a heuristic may look at to guess what the operation is for."""
        return " ".join([self.path, self.operation_id or "", self.summary, *self.tags]).lower()

    def url_path(self, path_values: dict[str, Any] | None = None) -> str:
        values = path_values or {}

        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            return quote(str(values.get(name, "1")), safe="")

        return self.prefix + re.sub(r"\{([^}]+)\}", sub, self.path)

    def documents_status(self, status: int) -> bool:
        keys = {k.upper() for k in self.responses}
        return str(status) in keys or f"{str(status)[0]}XX" in keys or "DEFAULT" in keys

    def response_schema(self, status: int, media_type: str | None = None) -> dict[str, Any] | None:
        """The documented schema of a status; of `media_type` where it documents several."""
        for key in (str(status), f"{str(status)[0]}XX", f"{str(status)[0]}xx", "default"):
            if key in self.responses:
                by_media = self.media_schemas.get(key, {})
                if media_type is not None and media_type in by_media:
                    return by_media[media_type]
                return self.responses[key]
        return None


@dataclass
class ApiDocument:
    raw: dict[str, Any]
    source: str
    operations: list[Operation]
    security_schemes: dict[str, dict[str, Any]]
    # Left out by --exclude: never requested, but still documented (no probe takes them for
    # undocumented endpoints).
    excluded: list[Operation] = field(default_factory=list)

    @property
    def documented_paths(self) -> set[str]:
        return {op.prefix + op.path for op in [*self.operations, *self.excluded]}

    def find(self, method: str, path: str) -> Operation | None:
        for op in self.operations:
            if op.method == method.upper() and op.path == path:
                return op
        return None

    def match(self, method: str, concrete_path: str) -> Operation | None:
        """The documented operation that a concrete request path belongs to."""
        for op in self.operations:
            if op.method != method.upper():
                continue
            pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(op.prefix + op.path)) + "$"
            if re.match(pattern, concrete_path):
                return op
        return None


def load_yaml(text: str) -> Any:
    """YAML with ruamel (a dependency of backforge already), as plain dicts and lists."""
    from ruamel.yaml import YAML, YAMLError

    try:
        return YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        raise ValueError(f"invalid YAML: {exc}") from None


def parse_document_text(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        data = load_yaml(text)
    if not isinstance(data, dict) or not ("openapi" in data or "swagger" in data):
        raise DocumentNotFound("the document is not an OpenAPI document")
    return data


def load_document(client: AuditClient, openapi: str | None) -> ApiDocument:
    """Read the document from a file or URL, or discover it at the usual paths of the target."""
    if openapi and not openapi.startswith(("http://", "https://")) and Path(openapi).exists():
        return build_document(parse_document_text(Path(openapi).read_text()), openapi)
    candidates = [openapi] if openapi else list(DISCOVERY_PATHS)
    for candidate in candidates:
        exchange = client.send("GET", candidate, check="discovery", drift=False)
        if exchange.status == 200:
            try:
                raw = parse_document_text(exchange.text)
            except (DocumentNotFound, ValueError):
                continue
            return build_document(raw, exchange.url)
    where = openapi or ", ".join(DISCOVERY_PATHS)
    raise DocumentNotFound(f"no OpenAPI document found at {where}; give it with --openapi")


def build_document(raw: dict[str, Any], source: str) -> ApiDocument:
    resolver = References(raw)
    servers = raw.get("servers") or [{}]
    prefix = urlsplit(str(servers[0].get("url", ""))).path.rstrip("/")
    if raw.get("swagger"):
        prefix = str(raw.get("basePath", "")).rstrip("/")
    doc_security = raw.get("security") or []
    operations: list[Operation] = []
    for path, item in (raw.get("paths") or {}).items():
        item = resolver.resolve(item)
        shared = item.get("parameters", [])
        for method in METHODS:
            if method not in item:
                continue
            op = resolver.resolve(item[method])
            params = _parameters(resolver, [*shared, *op.get("parameters", [])])
            body_schema, media, required = _request_body(resolver, op, params)
            operations.append(
                Operation(
                    method=method.upper(),
                    path=path,
                    prefix=prefix,
                    operation_id=op.get("operationId"),
                    tags=list(op.get("tags") or []),
                    summary=str(op.get("summary") or op.get("description") or ""),
                    parameters=[p for p in params if p.location != "body"],
                    body_schema=body_schema,
                    body_media_type=media,
                    body_required=required,
                    responses=_responses(resolver, op),
                    media_schemas=_media_schemas(resolver, op),
                    upload_schema=_upload_schema(resolver, op),
                    security=op.get("security", doc_security) or [],
                    raw=op,
                )
            )
    schemes = (
        raw.get("components", {}).get("securitySchemes") or raw.get("securityDefinitions") or {}
    )
    return ApiDocument(
        raw=raw,
        source=source,
        operations=operations,
        security_schemes={k: resolver.resolve(v) for k, v in schemes.items()},
    )


def _parameters(resolver: References, raw_params: list[Any]) -> list[Parameter]:
    by_key: dict[tuple[str, str], Parameter] = {}
    for raw in raw_params:
        p = resolver.resolve(raw)
        schema = resolver.deep(p.get("schema") or {k: v for k, v in p.items() if k in {"type"}})
        if p.get("in") == "body":
            schema = resolver.deep(p.get("schema") or {})
        by_key[(p["name"], p["in"])] = Parameter(
            name=p["name"],
            location=p["in"],
            required=bool(p.get("required")) or p["in"] == "path",
            schema=schema,
        )
    return list(by_key.values())


def _request_body(
    resolver: References, op: dict[str, Any], params: list[Parameter]
) -> tuple[dict[str, Any] | None, str | None, bool]:
    for p in params:  # Swagger 2
        if p.location == "body":
            return p.schema, "application/json", p.required
    body = resolver.resolve(op.get("requestBody") or {})
    content = body.get("content") or {}
    for media, spec in content.items():
        if "json" in media or media == "application/x-www-form-urlencoded":
            return resolver.deep(spec.get("schema") or {}), media, bool(body.get("required"))
    return None, None, False


def _upload_schema(resolver: References, op: dict[str, Any]) -> dict[str, Any] | None:
    body = resolver.resolve(op.get("requestBody") or {})
    spec = (body.get("content") or {}).get("multipart/form-data")
    if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
        return None
    return resolver.deep(spec["schema"])


def _responses(resolver: References, op: dict[str, Any]) -> dict[str, dict[str, Any] | None]:
    out: dict[str, dict[str, Any] | None] = {}
    for status, raw in (op.get("responses") or {}).items():
        resp = resolver.resolve(raw)
        schema = None
        for media, spec in (resp.get("content") or {}).items():
            if "json" in media and isinstance(spec, dict) and "schema" in spec:
                schema = resolver.deep(spec["schema"])
                break
        if schema is None and "schema" in resp:  # Swagger 2
            schema = resolver.deep(resp["schema"])
        out[str(status)] = schema
    return out


def _media_schemas(resolver: References, op: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for status, raw in (op.get("responses") or {}).items():
        content = resolver.resolve(raw).get("content") or {}
        schemas = {
            media.lower(): resolver.deep(spec["schema"])
            for media, spec in content.items()
            if "json" in media and isinstance(spec, dict) and "schema" in spec
        }
        if len(schemas) > 1:
            out[str(status)] = schemas
    return out
