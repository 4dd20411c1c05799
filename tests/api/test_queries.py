"""Listing: filter, multi-key sort, keyset cursor pages, totals, field selection and expansion."""

from __future__ import annotations

import pytest


@pytest.fixture
def seeded(blog, admin):
    """Three authors and 30 posts with varied status, views and ratings."""
    authors = []
    for name in ("Ann Lee", "Bob Stone", "Cleo Annis"):
        email = name.split()[0].lower() + "@example.com"
        authors.append(
            blog.post("/api/authors", json={"name": name, "email": email}, headers=admin).json()
        )
    posts = []
    for i in range(30):
        body = {
            "title": f"Post {i:02d}",
            "slug": f"post-{i}",
            "status": ("draft", "published", "archived")[i % 3],
            "views": (i * 37) % 100,
            "rating": None if i % 5 == 0 else (i % 6) * 0.5,
            "author": authors[i % 3]["id"],
        }
        response = blog.post("/api/posts", json=body, headers=admin)
        assert response.status_code == 201, response.text
        posts.append(response.json())
    return blog, authors, posts


def _all_pages(client, headers, **params):
    items, cursor, pages = [], None, 0
    while True:
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        response = client.get("/api/posts", params=query, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["items"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return items, pages


def test_filter_combines_and_or_and_relation_hop(seeded, admin):
    client, authors, posts = seeded
    query = '(status = "published" && views > 40) || author.name ~ "annis"'
    got = client.get("/api/posts", params={"filter": query, "limit": 100}, headers=admin).json()
    annis = authors[2]["id"]
    expected = {
        p["id"]
        for p in posts
        if (p["status"] == "published" and p["views"] > 40) or p["author"] == annis
    }
    assert {p["id"] for p in got["items"]} == expected
    assert expected  # the data makes both branches match something


@pytest.mark.parametrize(
    ("expression", "predicate"),
    [
        ('status != "draft"', lambda p: p["status"] != "draft"),
        ("views >= 50 && views < 70", lambda p: 50 <= p["views"] < 70),
        ("rating = null", lambda p: p["rating"] is None),
        ("rating != null && rating <= 1", lambda p: p["rating"] is not None and p["rating"] <= 1),
        ('status in ["draft", "archived"]', lambda p: p["status"] in ("draft", "archived")),
        ('status not in ["draft"]', lambda p: p["status"] != "draft"),
        ('!(title ~ "1")', lambda p: "1" not in p["title"]),
        ('title !~ "post 0"', lambda p: "post 0" not in p["title"].lower()),
        ("rating != 1", lambda p: p["rating"] != 1),
        ("true", lambda p: True),
        ("views > 1000 || false", lambda p: False),
    ],
)
def test_filter_operators(seeded, admin, expression, predicate):
    client, _, posts = seeded
    got = client.get("/api/posts", params={"filter": expression, "limit": 100}, headers=admin)
    assert got.status_code == 200, got.text
    assert {p["id"] for p in got.json()["items"]} == {p["id"] for p in posts if predicate(p)}


def test_contains_treats_wildcards_literally(seeded, admin):
    client, _, _ = seeded
    for pattern in ("%", "_", "Post%"):
        got = client.get("/api/posts", params={"filter": f'title ~ "{pattern}"'}, headers=admin)
        assert got.json()["items"] == []


def test_multi_key_sort(seeded, admin):
    client, _, posts = seeded
    got = client.get(
        "/api/posts", params={"sort": "status,-views,title", "limit": 100}, headers=admin
    ).json()["items"]
    expected = sorted(posts, key=lambda p: (p["status"], -p["views"], p["title"]))
    assert [p["id"] for p in got] == [p["id"] for p in expected]


@pytest.mark.parametrize("sort", ["-created", "rating", "-rating", "views,title", "-updated"])
def test_cursor_pages_visit_every_row_once(seeded, admin, sort):
    client, _, posts = seeded
    items, pages = _all_pages(client, admin, sort=sort, limit=7)
    assert pages == 5
    assert sorted(p["id"] for p in items) == sorted(p["id"] for p in posts)
    whole = client.get("/api/posts", params={"sort": sort, "limit": 100}, headers=admin).json()
    assert [p["id"] for p in items] == [p["id"] for p in whole["items"]]


def test_nulls_sort_last_ascending_and_first_descending(seeded, admin):
    client, _, _ = seeded
    ascending = client.get("/api/posts", params={"sort": "rating", "limit": 100}, headers=admin)
    ratings = [p["rating"] for p in ascending.json()["items"]]
    assert ratings[-1] is None and ratings[0] is not None
    descending = client.get("/api/posts", params={"sort": "-rating", "limit": 100}, headers=admin)
    assert descending.json()["items"][0]["rating"] is None


def test_cursor_with_filter_and_total(seeded, admin):
    client, _, posts = seeded
    expected = [p for p in posts if p["status"] == "published"]
    first = client.get(
        "/api/posts",
        params={"filter": 'status = "published"', "limit": 4, "total": "true"},
        headers=admin,
    ).json()
    assert first["total"] == len(expected) and len(first["items"]) == 4
    items, _ = _all_pages(client, admin, filter='status = "published"', limit=4)
    assert {p["id"] for p in items} == {p["id"] for p in expected}


def test_total_is_absent_unless_asked(seeded, admin):
    client, _, _ = seeded
    assert "total" not in client.get("/api/posts", headers=admin).json()


def test_cursor_from_another_sort_is_refused(seeded, admin):
    client, _, _ = seeded
    cursor = client.get("/api/posts", params={"limit": 2}, headers=admin).json()["next_cursor"]
    response = client.get("/api/posts", params={"cursor": cursor, "sort": "title"}, headers=admin)
    assert response.status_code == 400 and response.json()["parameter"] == "cursor"


def test_page_size_default_and_maximum(seeded, admin):
    client, _, _ = seeded
    assert len(client.get("/api/posts", headers=admin).json()["items"]) == 20
    assert client.get("/api/posts", params={"limit": 201}, headers=admin).status_code == 400


def test_field_selection(seeded, admin):
    client, _, posts = seeded
    listed = client.get("/api/posts", params={"fields": "id,title"}, headers=admin).json()
    assert all(set(p) == {"id", "title"} for p in listed["items"])
    one = client.get(f"/api/posts/{posts[0]['id']}", params={"fields": "views"}, headers=admin)
    assert one.json() == {"id": posts[0]["id"], "views": posts[0]["views"]}


def test_expand_relation_in_list_and_get(seeded, admin):
    client, authors, posts = seeded
    by_id = {a["id"]: a for a in authors}
    listed = client.get("/api/posts", params={"expand": "author", "limit": 5}, headers=admin)
    for post in listed.json()["items"]:
        assert post["expand"]["author"] == by_id[post["author"]]
    one = client.get(f"/api/posts/{posts[1]['id']}", params={"expand": "author"}, headers=admin)
    assert one.json()["expand"]["author"]["name"] == by_id[posts[1]["author"]]["name"]


def test_rules_limit_what_anonymous_callers_see(seeded):
    client, _, posts = seeded
    published = {p["id"] for p in posts if p["status"] == "published"}
    got = client.get("/api/posts", params={"limit": 100, "total": "1"}).json()
    assert {p["id"] for p in got["items"]} == published and got["total"] == len(published)
    draft = next(p for p in posts if p["status"] == "draft")
    assert client.get(f"/api/posts/{draft['id']}").status_code == 404
    # A filter cannot widen what the rule admits.
    wide = client.get("/api/posts", params={"filter": 'status = "draft"'}).json()
    assert wide["items"] == []


def test_filter_type_errors_point_at_the_value(seeded, admin):
    client, _, _ = seeded
    cases = {
        'views > "many"': 8,
        'status = "publishd"': 9,
        'published_at > "not a date"': 15,
        "title > 3": 8,
        "metadata > 1": 11,
        "nope = 1": 0,
        "author.nope = 1": 0,
    }
    for expression, position in cases.items():
        response = client.get("/api/posts", params={"filter": expression}, headers=admin)
        assert response.status_code == 400, expression
        assert response.json()["position"] == position, (expression, response.json())


def test_fields_and_expand_outside_the_documented_pattern_are_refused(seeded):
    client, _, posts = seeded
    one = f"/api/posts/{next(p for p in posts if p['status'] == 'published')['id']}"
    pattern = client.get("/api/openapi.json").json()["paths"]["/api/posts"]["get"]["parameters"]
    assert any(p["name"] == "fields" and "pattern" in p["schema"] for p in pattern)
    for parameter in ("fields", "expand"):
        for value in ("%1F", "title,%1F", "title,,views", "%20title", "title,", "%0A"):
            for url in ("/api/posts", one):
                response = client.get(f"{url}?{parameter}={value}")
                assert response.status_code == 400, (url, parameter, value, response.text)
                body = response.json()
                assert body["type"] == "urn:backforge:problem:invalid-query"
                assert body["parameter"] == parameter
    # An empty list is what the pattern allows: every field, nothing expanded.
    assert client.get("/api/posts?fields=&expand=").status_code == 200
    assert set(client.get(f"{one}?fields=title").json()) == {"id", "title"}
