"""The blog example's access repeated through GraphQL: an anonymous reader and an admin list
and get what REST gives each, follow relations only to what they may view (published posts,
approved comments), and have the same writes refused."""

from __future__ import annotations

from typing import Any

import pytest

FIELDS = {
    "authors": "id created updated version name email bio homepage",
    "posts": "id created updated version title slug body status views rating published_at "
    "author_id metadata",
    "comments": "id created updated version post_id name body approved",
}
RELATIONS = {"posts": "author", "comments": "post"}


def gql(client, query: str, headers: dict[str, str], **variables: Any) -> dict[str, Any]:
    response = client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()


def as_rest(collection: str, record: dict[str, Any]) -> dict[str, Any]:
    record = dict(record)
    if collection in RELATIONS:
        record[RELATIONS[collection]] = record.pop(f"{RELATIONS[collection]}_id")
    return record


@pytest.fixture
def written(blog, admin):
    ids: dict[str, str] = {}
    author = blog.post(
        "/api/authors", json={"name": "Ada", "email": "ada@example.com"}, headers=admin
    )
    ids["author"] = author.json()["id"]
    for status in ("published", "draft"):
        post = blog.post(
            "/api/posts",
            json={"title": status, "slug": status, "status": status, "author": ids["author"]},
            headers=admin,
        )
        assert post.status_code == 201, post.text
        ids[status] = post.json()["id"]
        for approved in (True, False):
            comment = blog.post(
                "/api/comments",
                json={"post": ids[status], "name": "R", "body": "hi", "approved": approved},
                headers=admin,
            )
            ids[f"{status}_{'approved' if approved else 'held'}"] = comment.json()["id"]
    return ids


def test_readers_see_through_graphql_what_rest_shows_them(blog, admin, written):
    for headers in ({}, admin):
        for collection, fields in FIELDS.items():
            rest = blog.get(f"/api/{collection}", params={"total": 1}, headers=headers).json()
            answer = gql(blog, f"{{ {collection} {{ total items {{ {fields} }} }} }}", headers)
            page = answer["data"][collection]
            assert [as_rest(collection, r) for r in page["items"]] == rest["items"]
            assert page["total"] == rest["total"]
            for record_id in written.values():
                rest = blog.get(f"/api/{collection}/{record_id}", headers=headers)
                query = f"query($id: ID!) {{ {collection}_by_id(id: $id) {{ {fields} }} }}"
                found = gql(blog, query, headers, id=record_id)["data"][f"{collection}_by_id"]
                if rest.status_code == 404:
                    assert found is None
                else:
                    assert as_rest(collection, found) == rest.json()


def test_relations_lead_only_to_what_the_reader_may_view(blog, admin, written):
    query = """{ authors { items { posts(sort: "title") { title comments { id } } } } }"""
    anonymous = gql(blog, query, {})["data"]["authors"]["items"]
    assert anonymous == [
        {"posts": [{"title": "published", "comments": [{"id": written["published_approved"]}]}]}
    ]
    everything = gql(blog, query, admin)["data"]["authors"]["items"][0]["posts"]
    assert [p["title"] for p in everything] == ["draft", "published"]
    assert all(len(p["comments"]) == 2 for p in everything)
    # An approved comment on a draft is visible, its post is not.
    query = "query($id: ID!) { comments_by_id(id: $id) { id post { title } } }"
    found = gql(blog, query, {}, id=written["draft_approved"])["data"]["comments_by_id"]
    assert found == {"id": written["draft_approved"], "post": None}


@pytest.mark.parametrize(
    ("mutation", "method", "path"),
    [
        ('mutation { create_authors(data: {name: "E", email: "e@example.com"}) { id } }',
         "POST", "/api/authors"),
        ('mutation($id: ID!) { update_posts(id: $id, data: {title: "x"}) { id } }',
         "PATCH", "/api/posts/{published}"),
        ("mutation($id: ID!) { delete_comments(id: $id) }", "DELETE",
         "/api/comments/{published_approved}"),
        ("mutation($id: ID!) { delete_posts(id: $id) }", "DELETE", "/api/posts/{draft}"),
    ],
)  # fmt: skip
def test_anonymous_writes_are_refused_alike(blog, written, mutation, method, path):
    key = path.rsplit("{", 1)[-1].rstrip("}") if "{" in path else None
    variables = {"id": written[key]} if key else {}
    answer = gql(blog, mutation, {}, **variables)
    body = {"name": "E", "email": "e@example.com"} if method == "POST" else {"title": "x"}
    rest = blog.request(method, path.format(**written), json=body)
    assert rest.status_code in (403, 404)
    assert answer["data"] is None
    assert answer["errors"][0]["extensions"]["status"] == rest.status_code
