"""The JSON Schema of the declaration format, for editors to validate and autocomplete."""

from __future__ import annotations

from typing import Any

from .model import Spec


def declaration_json_schema() -> dict[str, Any]:
    schema = Spec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "backforge declaration"
    return schema
