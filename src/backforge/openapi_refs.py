"""Local `$ref`s of an OpenAPI document, followed or inlined (the audit and the importer read
documents no one here wrote: a reference cycle is cut off, never followed forever)."""

from __future__ import annotations

import copy
from typing import Any


class References:
    """Inlines local $refs; a reference cycle is cut off (replaced by {}) at the second visit."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root

    def lookup(self, ref: str) -> Any:
        if not ref.startswith("#/"):
            return {}
        node: Any = self.root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                return {}
            node = node[part]
        return node

    def resolve(self, node: Any) -> Any:
        seen = 0
        while isinstance(node, dict) and "$ref" in node and seen < 20:
            node = self.lookup(node["$ref"])
            seen += 1
        return node

    def deep(self, node: Any, stack: tuple[str, ...] = ()) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                ref = node["$ref"]
                if ref in stack:
                    return {}
                target = copy.deepcopy(self.lookup(ref))
                extra = {k: v for k, v in node.items() if k != "$ref"}
                resolved = self.deep(target, (*stack, ref))
                return {**resolved, **extra} if isinstance(resolved, dict) else resolved
            return {k: self.deep(v, stack) for k, v in node.items()}
        if isinstance(node, list):
            return [self.deep(v, stack) for v in node]
        return node
