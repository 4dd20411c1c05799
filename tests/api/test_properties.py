"""Property-based: no generated filter, sort or body makes the API answer 5xx."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FIELDS = [
    "title",
    "slug",
    "body",
    "status",
    "views",
    "rating",
    "published_at",
    "author",
    "metadata",
    "author.name",
    "author.email",
    "id",
    "created",
    "nope",
    "author.nope",
]
OPERATORS = ["=", "!=", ">", ">=", "<", "<=", "~", "!~"]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["draft", "published", "2024-01-01", "2024-01-01T10:00:00Z", "a%_\\"]),
)


def _literal(value) -> str:
    return json.dumps(value) if not isinstance(value, float) else repr(value)


@st.composite
def comparisons(draw):
    field = draw(st.sampled_from(FIELDS))
    if draw(st.booleans()):
        values = draw(st.lists(SCALARS, max_size=4))
        keyword = draw(st.sampled_from(["in", "not in"]))
        return f"{field} {keyword} [{', '.join(_literal(v) for v in values)}]"
    return f"{field} {draw(st.sampled_from(OPERATORS))} {_literal(draw(SCALARS))}"


FILTERS = st.recursive(
    comparisons(),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["&&", "||"]), inner).map(" ".join),
        inner.map(lambda e: f"({e})"),
        inner.map(lambda e: f"!({e})"),
    ),
    max_leaves=6,
)

SORTS = st.lists(st.sampled_from(FIELDS + ["-" + f for f in FIELDS]), max_size=3).map(",".join)

BODY_KEYS = st.sampled_from(
    [
        "title",
        "slug",
        "body",
        "status",
        "views",
        "rating",
        "published_at",
        "author",
        "metadata",
        "id",
        "extra",
    ]
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)

PROPERTY_SETTINGS = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def author(blog, admin):
    return blog.post(
        "/api/authors", json={"name": "Ann", "email": "ann@example.com"}, headers=admin
    ).json()["id"]


@PROPERTY_SETTINGS
@given(expression=FILTERS, sort=SORTS)
def test_generated_filters_never_fail_the_server(blog, admin, author, expression, sort):
    params = {"filter": expression, "total": "true"}
    if sort:
        params["sort"] = sort
    response = blog.get("/api/posts", params=params, headers=admin)
    assert response.status_code in (200, 400), (expression, sort, response.text)
    if response.status_code == 400:
        assert response.json()["parameter"] in ("filter", "sort")


@PROPERTY_SETTINGS
@given(body=st.dictionaries(BODY_KEYS, JSON_VALUES, max_size=6))
def test_generated_bodies_never_fail_the_server(blog, admin, author, body):
    response = blog.post("/api/posts", json=body, headers=admin)
    assert response.status_code in (201, 409, 422), (body, response.text)
    if response.status_code == 201:
        record = response.json()
        patched = blog.patch(f"/api/posts/{record['id']}", json=body, headers=admin)
        assert patched.status_code in (200, 409, 422), (body, patched.text)


@PROPERTY_SETTINGS
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes_as_a_body_are_a_client_error(blog, admin, raw):
    response = blog.post(
        "/api/posts", content=raw, headers={**admin, "content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
