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
