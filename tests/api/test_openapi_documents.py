"""Every example's OpenAPI document is valid OpenAPI 3.1 (checked by openapi-spec-validator)."""

from __future__ import annotations

from pathlib import Path

import pytest
from openapi_spec_validator import validate

from backforge.http.openapi import build_openapi
from backforge.spec import load_file

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_the_document_of_every_example_is_valid_openapi(example):
    document = build_openapi(load_file(EXAMPLES / example))
    validate(document)
    assert document["openapi"] == "3.1.0"


def test_batch_results_say_what_each_item_is(blog, admin):
    """A generated client keeps what the schema types: each result is a record of a written
    collection, or null for a delete. Checked by answering a real batch against the schema."""
    import jsonschema

    document = build_openapi(load_file(EXAMPLES / "blog.yaml"))
    response = document["paths"]["/api/batch"]["post"]["responses"]["200"]
    schema = response["content"]["application/json"]["schema"]
    items = schema["properties"]["results"]["items"]["anyOf"]
    assert {"type": "null"} in items and {"$ref": "#/components/schemas/Authors"} in items
    with_components = {**schema, "components": document["components"]}
    author = {"name": "Ann", "email": "ann@example.com"}
    created = blog.post("/api/authors", json=author, headers=admin).json()
    operations = [
        {"op": "create", "collection": "authors", "body": {"name": "Bo", "email": "b@x.org"}},
        {"op": "delete", "collection": "authors", "id": created["id"]},
    ]
    answer = blog.post("/api/batch", json={"operations": operations}, headers=admin)
    assert answer.status_code == 200, answer.text
    assert answer.json()["results"][1] is None
    jsonschema.validate(answer.json(), with_components)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"results": [{"name": "no id"}]}, with_components)
