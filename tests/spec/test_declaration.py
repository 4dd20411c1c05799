"""Loading a declaration: every problem names file:line, the key path and what would be valid."""

from __future__ import annotations

import textwrap

import pytest

from backforge.spec import DeclarationError, load_text
from backforge.spec.json_schema import declaration_json_schema


def _problems(text: str) -> list[str]:
    with pytest.raises(DeclarationError) as caught:
        load_text(textwrap.dedent(text), "shop.yaml")
    return [p.format("shop.yaml") for p in caught.value.problems]


def test_unknown_type_suggests_the_right_one_with_file_and_line():
    (problem,) = _problems("""\
        name: shop
        collections:
          products:
            fields:
              price: {type: money}
        """)
    assert problem.startswith("shop.yaml:5:")
    assert "collections.products.fields.price.type" in problem
    assert "unknown type 'money' — did you mean 'decimal'?" in problem


def test_several_errors_are_reported_at_once():
    problems = _problems("""\
        name: shop
        collections:
          products:
            fields:
              price: {type: decmal}
              name: {type: text, maxlength: 3}
              count: {type: int, required: maybe}
        """)
    assert len(problems) == 3
    assert "did you mean 'decimal'" in problems[0]
    assert "unknown option 'maxlength' — did you mean 'max_length'?" in problems[1]
    assert problems[2].startswith("shop.yaml:7:") and "required" in problems[2]


def test_semantic_errors_name_their_location():
    problems = _problems("""\
        name: shop
        collections:
          products:
            fields:
              category: {type: relation, to: categorys}
              status: {type: select, values: [a, b], default: c}
              size: {type: text, min: 3}
              id: {type: text}
            indexes: [[status, colour]]
          categories:
            fields: {name: {type: text}}
        """)
    joined = "\n".join(problems)
    assert (
        "shop.yaml:5:" in joined
        and "unknown collection 'categorys' — did you mean 'categories'?" in joined
    )
    assert "default 'c' is not one of the values (a, b)" in joined
    assert "'min' does not apply to a text field" in joined
    assert "'id' is automatic on every record" in joined
    assert "unknown field 'colour'" in joined


def test_select_needs_values_and_relation_needs_target():
    problems = "\n".join(
        _problems("""\
        name: x
        collections:
          a:
            fields:
              s: {type: select}
              r: {type: relation}
        """)
    )
    assert "a select field lists its values" in problems
    assert "a relation names its target collection" in problems


def test_invalid_yaml_points_at_the_line():
    (problem,) = _problems("name: x\ncollections:\n  a: {fields: [\n")
    assert problem.startswith("shop.yaml:") and "invalid YAML" in problem


def test_duplicate_keys_are_refused():
    (problem,) = _problems("name: x\ncollections:\n  a: {}\n  a: {}\n")
    assert problem.startswith("shop.yaml:4:3:") and "duplicate key" in problem


def test_bad_names_and_reserved_words():
    problems = "\n".join(
        _problems("""\
        name: x
        collections:
          Bad-Name: {}
          batch: {}
          ok:
            fields:
              "Camel": {type: text}
        """)
    )
    assert "a collection name is lowercase" in problems
    assert "'batch' is reserved" in problems
    assert "a field name is lowercase" in problems


def test_a_valid_declaration_loads():
    spec = load_text(
        textwrap.dedent("""\
        name: blog
        collections:
          posts:
            fields:
              title: {type: text, required: true, max_length: 10}
              price: {type: decimal, min: 0, default: 0}
            rules: {list: public}
        """)
    )
    assert spec.collections["posts"].fields["title"].max_length == 10
    assert spec.collections["posts"].rules.list == "public"


def test_json_schema_describes_the_format():
    schema = declaration_json_schema()
    field = schema["$defs"]["Field"]
    assert "decimal" in field["properties"]["type"]["enum"]
    assert field["additionalProperties"] is False
    assert set(schema["required"]) == {"name"}  # a service of routes or endpoints only
