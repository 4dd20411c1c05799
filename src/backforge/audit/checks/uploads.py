"""File uploads: content the server takes on trust, and uploads served back as live HTML.

For each documented multipart/form-data operation with a file part, two probes (each one small
request, as the operation's documented identity):

- an HTML document named `probe.png` and declared `image/png`: a server that accepts it trusts
  the name and the client's media type instead of the content (where the part accepts only
  some types, a disguised file gets through: a program as a picture);
- an HTML document with a script, named `probe.html`: when it is accepted and served back
  from the API's origin as HTML, inline and without a sandboxing Content-Security-Policy,
  anyone who opens its link runs the uploader's script there (stored XSS).

Where the upload is served is found in the answer: a URL mentioning the probe, or a documented
GET below the created object's path taking the stored name."""

from __future__ import annotations

import re
import secrets
import uuid
from typing import Any

from ..client import Exchange, HostNotAllowed, WriteNotAllowed
from ..context import AuditContext, list_items, object_id_of
from ..findings import Severity
from ..openapi import Operation
from ..values import example_value, properties

NAME = "uploads"
CATEGORY = "API8:2023"
_HTML = (
    b"<!doctype html><html><body><script>document.title='backforge-probe'</script></body></html>"
)
_PARAMETER = re.compile(r"\{[^}]+\}")


def run(ctx: AuditContext) -> None:
    for op in ctx.operations("POST"):
        files = _file_parts(op)
        if not files or op.path_params:
            continue
        try:
            _probe(ctx, op, files[0])
        except WriteNotAllowed:
            return


def _file_parts(op: Operation) -> list[str]:
    names = []
    for name, schema in properties(op.upload_schema).items():
        item = schema.get("items", {}) if schema.get("type") == "array" else schema
        if item.get("format") == "binary" or "contentMediaType" in item:
            names.append(name)
    return names


def _probe(ctx: AuditContext, op: Operation, part: str) -> None:
    disguised = _send(ctx, op, part, f"probe-{_tag()}.png", "image/png", _HTML)
    if 200 <= disguised.status < 300:
        ctx.report(
            id="upload-content-not-checked",
            title="An upload is taken by its name, not its content",
            severity=Severity.MEDIUM,
            category=CATEGORY,
            operation=op.key,
            check=NAME,
            detail=f"{op.key} accepted an HTML document as the file '{part}', named .png and "
            "declared image/png: the server trusts what the client says the file is, so any "
            "content (a program, a script) passes for an allowed type.",
            fix="Judge an upload by its first bytes (its signature), refuse one whose name or "
            "declared type disagrees with them, and list the types each file field accepts.",
            evidence=[disguised],
        )
    page = _send(ctx, op, part, f"probe-{_tag()}.html", "text/html", _HTML)
    if not 200 <= page.status < 300:
        return
    for url in _served_at(ctx, op, page):
        try:
            served = ctx.client.send("GET", url, identity=ctx.identity_for(op), check=NAME)
        except HostNotAllowed:  # a link to another host: not the API's origin, not followed
            continue
        if served.status == 200 and _runs_as_html(served):
            ctx.report(
                id="upload-served-as-html",
                title="Uploaded HTML is served from the API's origin and runs",
                severity=Severity.HIGH,
                category=CATEGORY,
                operation=op.key,
                check=NAME,
                detail=f"An HTML file uploaded through {op.key} comes back from {served.path} "
                f"as {served.headers.get('content-type', '?')}, inline, with no sandboxing "
                "Content-Security-Policy: whoever opens that link runs the uploader's script "
                "with the API's origin (stored cross-site scripting).",
                fix="Serve uploads as attachments (Content-Disposition: attachment) or from "
                "another origin, with X-Content-Type-Options: nosniff and "
                "Content-Security-Policy: sandbox; refuse HTML where it is not needed.",
                evidence=[page, served],
            )
            return


def _send(
    ctx: AuditContext, op: Operation, part: str, filename: str, media_type: str, content: bytes
) -> Exchange:
    boundary = f"backforge-audit-{uuid.uuid4().hex}"
    chunks = []
    for name, schema in properties(op.upload_schema).items():
        if name == part or name not in (op.upload_schema or {}).get("required", []):
            continue
        if name in _file_parts(op):
            continue
        value = example_value(schema, name)
        text = str(value).lower() if isinstance(value, bool) else str(value)
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        chunks.append(f"{head}{text}\r\n".encode())
    chunks.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{part}"; filename="{filename}"'
        f"\r\nContent-Type: {media_type}\r\n\r\n".encode()
        + content
        + b"\r\n"
    )
    chunks.append(f"--{boundary}--\r\n".encode())
    return ctx.call(
        op,
        identity=ctx.identity_for(op),
        content=b"".join(chunks),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        check=NAME,
    )


def _served_at(ctx: AuditContext, op: Operation, exchange: Exchange) -> list[str]:
    """Where the upload may be read back: links in the answer, and documented GETs below the
    created object's path (`/avatars/{id}/image`, or `/photos/{id}/files/{name}` given a name
    the answer holds)."""
    data = exchange.json() if exchange.is_json else None
    objects = [data] if isinstance(data, dict) else list_items(data)
    urls: list[str] = []
    for item in objects:
        strings = _strings(item)
        urls += [s for s in strings if s.startswith(("/", "http://", "https://"))]
        object_id = object_id_of(item)
        if object_id is None:
            continue
        base = op.path.rstrip("/") + "/{"
        for get in ctx.operations("GET"):
            if not get.path.startswith(base):
                continue
            count = len(get.path_params)
            if count == 1 and not get.path.endswith("}"):
                urls.append(get.prefix + _filled(get.path, [object_id]))
            elif count == 2:
                for name in (s for s in strings if "probe" in s):
                    urls.append(get.prefix + _filled(get.path, [object_id, name]))
    return list(dict.fromkeys(urls))[:6]


def _filled(path: str, values: list[str]) -> str:
    given = iter(values)
    return _PARAMETER.sub(lambda _match: next(given), path)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    return []


def _runs_as_html(served: Exchange) -> bool:
    media = served.headers.get("content-type", "").split(";")[0].strip().lower()
    disposition = served.headers.get("content-disposition", "").lower()
    policy = served.headers.get("content-security-policy", "").lower()
    return (
        media in ("text/html", "application/xhtml+xml", "image/svg+xml")
        and not disposition.startswith("attachment")
        and "sandbox" not in policy
        and b"backforge-probe" in served.body
    )


def _tag() -> str:
    return secrets.token_hex(3)
