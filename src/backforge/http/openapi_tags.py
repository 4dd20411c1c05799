"""How the OpenAPI document groups operations: by collection, with what only admins may call
grouped apart under `admin` (listed last), so a reader sees first what their clients can do."""

from __future__ import annotations

from typing import Any

from ..spec.model import Spec

ADMIN_TAG = "admin"
_ADMIN_NOTE = "Only admins may call this: the admin token, or an account with admin rights."


def tag_operation(document: dict[str, Any], collection: str, rule: str | None) -> None:
    """Tag an operation with its collection, or `admin` when its rule is undeclared (which
    admits admins only), saying so in its description."""
    if rule is not None:
        document["tags"] = [collection]
        return
    document["tags"] = [ADMIN_TAG]
    description = document.get("description")
    document["description"] = f"{_ADMIN_NOTE}\n\n{description}" if description else _ADMIN_NOTE


def document_tags(spec: Spec, paths: dict[str, Any]) -> list[dict[str, str]]:
    """The tags in use, in order: the collections as declared, the rest by name, admin last."""
    used = {tag for item in paths.values() for op in item.values() for tag in op.get("tags", ())}
    ordered = [name for name in spec.collections if name in used]
    ordered += sorted(used - set(ordered) - {ADMIN_TAG})
    tags = [{"name": name} for name in ordered]
    for entry in tags:
        described = spec.collections.get(entry["name"])
        if described is not None and described.description:
            entry["description"] = described.description
    if ADMIN_TAG in used:
        tags.append({"name": ADMIN_TAG, "description": "Operations only admins may call."})
    return tags
