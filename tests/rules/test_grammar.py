"""The expression language: precedence, literals, positions of errors, limits, and fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backforge.rules import ExpressionError, parse
from backforge.rules.ast import And, Comparison, Constant, Literal, Membership, Not, Or, Path


def test_and_binds_tighter_than_or():
    node = parse("a = 1 || b = 2 && c = 3")
    assert isinstance(node, Or)
    assert isinstance(node.items[1], And)


def test_parentheses_override_precedence():
    node = parse("(a = 1 || b = 2) && c = 3")
    assert isinstance(node, And) and isinstance(node.items[0], Or)


def test_literals():
    values = [
        parse(f"x = {text}").right.value
        for text in ('"a\\"b"', "'single'", "-12", "3.5", "1e3", "true", "false", "null")
    ]
    assert values == ['a"b', "single", -12, 3.5, 1000.0, True, False, None]


def test_paths_membership_negation_and_constants():
    node = parse('!(author.name ~ "x") && status not in ["a", "b"] && true')
    assert isinstance(node, And)
    negated, membership, constant = node.items
    assert isinstance(negated, Not)
    inner = negated.item
    assert isinstance(inner, Comparison) and inner.left == Path(("author", "name"), 2)
    assert isinstance(membership, Membership) and membership.negated
    assert [v.value for v in membership.values] == ["a", "b"]
    assert constant == Constant(True)


def test_every_operator_parses():
    for operator in ("=", "!=", ">", ">=", "<", "<=", "~", "!~"):
        node = parse(f"views {operator} 1")
        assert isinstance(node, Comparison) and node.operator == operator
        assert node.right == Literal(1, len(f"views {operator} "))


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("a = ", 4, "unexpected end"),
        ("a == 1", 3, "unexpected '='"),
        ("(a = 1", 6, "expected ')'"),
        ("a = 1 &&", 8, "unexpected end"),
        ("a = $", 4, "unexpected character"),
        ('a = "open', 4, "unexpected character"),
        ("a = 1 b = 2", 6, "unexpected 'b'"),
        ("a in [b]", 6, "unexpected"),
        ("", 0, "empty"),
    ],
)
def test_errors_point_at_the_position(text, position, fragment):
    with pytest.raises(ExpressionError) as caught:
        parse(text)
    assert caught.value.position == position
    assert fragment in caught.value.message


def test_length_limit():
    with pytest.raises(ExpressionError, match="longer than"):
        parse("a = 1 && " * 600 + "a = 1")


def test_depth_limit_refuses_deep_nesting_before_parsing():
    with pytest.raises(ExpressionError, match="nested deeper"):
        parse("(" * 30 + "a = 1" + ")" * 30)
    with pytest.raises(ExpressionError, match="nested deeper"):
        parse("!" * 1000 + "true")
    assert isinstance(parse("(" * 10 + "a = 1" + ")" * 10), Comparison)


def test_parentheses_inside_strings_do_not_count_as_nesting():
    assert parse('a = "' + "(" * 50 + '"').right.value == "(" * 50


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=80))
def test_any_text_parses_or_fails_cleanly(text):
    try:
        parse(text)
    except ExpressionError as exc:
        assert exc.position is None or 0 <= exc.position <= max(len(text), 4096)


_TOKENS = st.sampled_from(
    [
        "a",
        "b.c",
        "=",
        "!=",
        ">",
        "~",
        "!~",
        "&&",
        "||",
        "!",
        "(",
        ")",
        '"x"',
        "1",
        "2.5",
        "null",
        "true",
        "in",
        "not in",
        "[",
        "]",
        ",",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_TOKENS, max_size=25))
def test_token_soup_parses_or_fails_cleanly(tokens):
    try:
        parse(" ".join(tokens))
    except ExpressionError as exc:
        assert exc.message
