"""The RealWorld ("Conduit") API contract, checked against examples/conduit.yaml on SQLite and
PostgreSQL. Written from the contract (https://realworld-docs.netlify.app: endpoints, JSON
objects, error handling) in the manner of its published Postman collection — not from the
declaration: each request and assertion is what a Conduit client relies on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

ISO_8601 = re.compile(
    r"^\d{4,}-[01]\d-[0-3]\dT[0-2]\d:[0-5]\d:[0-5]\d\.\d+(?:[+-][0-2]\d:[0-5]\d|Z)$"
)
USER_KEYS = {"email", "token", "username", "bio", "image"}
PROFILE_KEYS = {"username", "bio", "image", "following"}
ARTICLE_KEYS = {
    "slug",
    "title",
    "description",
    "body",
    "tagList",
    "createdAt",
    "updatedAt",
    "favorited",
    "favoritesCount",
    "author",
}
COMMENT_KEYS = {"id", "createdAt", "updatedAt", "body", "author"}


@pytest.fixture
def conduit(make_client):
    return make_client(EXAMPLES / "conduit.yaml")


def _error(answer, status: int) -> list[str]:
    """The contract's error: the status, and {"errors": {"body": ["..."]}}."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    errors = answer.json()["errors"]["body"]
    assert isinstance(errors, list) and errors and all(isinstance(e, str) for e in errors)
    return errors


def _register(client, name: str) -> tuple[dict, dict]:
    answer = client.post(
        "/api/users",
        json={
            "user": {"username": name, "email": f"{name}@conduit.example", "password": "password"}
        },
    )
    assert answer.status_code == 201, answer.text
    user = answer.json()["user"]
    return user, {"Authorization": f"Token {user['token']}"}


def _check_article(article: dict) -> None:
    assert set(article) == ARTICLE_KEYS
    assert ISO_8601.match(article["createdAt"]) and ISO_8601.match(article["updatedAt"])
    assert isinstance(article["tagList"], list)
    assert isinstance(article["favorited"], bool)
    assert isinstance(article["favoritesCount"], int)
    assert set(article["author"]) == PROFILE_KEYS


def _new_article(client, headers, title="How to train your dragon", tags=("dragons", "training")):
    answer = client.post(
        "/api/articles",
        json={
            "article": {
                "title": title,
                "description": "Ever wonder how?",
                "body": "Very carefully.",
                "tagList": list(tags),
            }
        },
        headers=headers,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["article"]


def test_registration_login_and_the_current_user(conduit):
    user, headers = _register(conduit, "jake")
    assert set(user) == USER_KEYS
    assert user["email"] == "jake@conduit.example" and user["username"] == "jake"
    assert user["bio"] is None and user["image"] is None
    _error(
        conduit.post(
            "/api/users",
            json={
                "user": {
                    "username": "jake",
                    "email": "other@conduit.example",
                    "password": "password",
                }
            },
        ),
        422,
    )
    _error(
        conduit.post("/api/users", json={"user": {"username": "nomail", "password": "password"}}),
        422,
    )
    _error(conduit.post("/api/users", json={"username": "flat", "password": "password"}), 422)

    login = conduit.post(
        "/api/users/login", json={"user": {"email": "jake@conduit.example", "password": "password"}}
    )
    assert login.status_code == 200, login.text
    assert set(login.json()["user"]) == USER_KEYS
    _error(
        conduit.post(
            "/api/users/login",
            json={"user": {"email": "jake@conduit.example", "password": "wrong!!!"}},
        ),
        401,
    )
    _error(conduit.post("/api/users/login", json={"user": {"email": "jake@conduit.example"}}), 422)

    current = conduit.get("/api/user", headers=headers)
    assert current.status_code == 200
    assert current.json()["user"]["email"] == "jake@conduit.example"
    assert current.json()["user"]["token"] == user["token"]
    _error(conduit.get("/api/user"), 401)
    _error(conduit.get("/api/user", headers={"Authorization": "Token nonsense"}), 401)

    changed = conduit.put(
        "/api/user",
        json={"user": {"email": "jake@jake.jake", "bio": "I work at statefarm", "image": None}},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["user"]["email"] == "jake@jake.jake"
    assert changed.json()["user"]["bio"] == "I work at statefarm"
    again = conduit.post(
        "/api/users/login", json={"user": {"email": "jake@jake.jake", "password": "password"}}
    )
    assert again.status_code == 200
    _error(conduit.put("/api/user", json={"user": {"bio": "x"}}), 401)
    # The contract sets a new password here; the old one stops working.
    moved = conduit.put("/api/user", json={"user": {"password": "new password"}}, headers=headers)
    assert moved.status_code == 200, moved.text
    new_login = {"user": {"email": "jake@jake.jake", "password": "new password"}}
    assert conduit.post("/api/users/login", json=new_login).status_code == 200
    old_login = {"user": {"email": "jake@jake.jake", "password": "password"}}
    _error(conduit.post("/api/users/login", json=old_login), 401)
    _error(conduit.put("/api/user", json={"user": {"password": "short"}}, headers=headers), 422)
    _error(conduit.put("/api/user", json={"user": {"admin": True}}, headers=headers), 422)


def test_articles_lifecycle_lists_and_filters(conduit):
    jake, jake_headers = _register(conduit, "jake")
    ann, ann_headers = _register(conduit, "ann")
    first = _new_article(conduit, jake_headers)
    _check_article(first)
    assert first["slug"] == "how-to-train-your-dragon"
    assert first["tagList"] == ["dragons", "training"]
    assert first["favorited"] is False and first["favoritesCount"] == 0
    assert first["author"]["username"] == "jake" and first["author"]["following"] is False
    second = _new_article(conduit, jake_headers, tags=["dragons"])
    assert second["slug"] != first["slug"]
    third = _new_article(conduit, ann_headers, title="Cooking for one", tags=[])
    assert third["tagList"] == []
    _error(conduit.post("/api/articles", json={"article": {"title": "t"}}), 401)
    # A create says where the record is read: the declared GET by slug.
    placed = conduit.post(
        "/api/articles",
        json={"article": {"title": "Where it lives", "description": "d", "body": "b"}},
        headers=ann_headers,
    )
    assert placed.status_code == 201, placed.text
    location = placed.headers["location"]
    assert location == f"/api/articles/{placed.json()['article']['slug']}"
    assert conduit.get(location).json()["article"]["title"] == "Where it lives"
    assert conduit.delete(location, headers=ann_headers).status_code in (200, 204)
    _error(
        conduit.post(
            "/api/articles", json={"article": {"title": "only a title"}}, headers=jake_headers
        ),
        422,
    )

    everything = conduit.get("/api/articles")
    assert everything.status_code == 200
    body = everything.json()
    assert body["articlesCount"] == 3
    assert [a["slug"] for a in body["articles"]] == [third["slug"], second["slug"], first["slug"]]
    for article in body["articles"]:
        _check_article(article)

    def slugs(**query):
        answer = conduit.get("/api/articles", params=query)
        assert answer.status_code == 200, answer.text
        return [a["slug"] for a in answer.json()["articles"]], answer.json()["articlesCount"]

    assert slugs(author="jake") == ([second["slug"], first["slug"]], 2)
    assert slugs(tag="dragons") == ([second["slug"], first["slug"]], 2)
    assert slugs(tag="training") == ([first["slug"]], 1)
    assert slugs(tag="nope") == ([], 0)
    assert slugs(author="jake", tag="training") == ([first["slug"]], 1)
    assert slugs(limit="1") == ([third["slug"]], 3)
    assert slugs(limit="2", offset="1") == ([second["slug"], first["slug"]], 3)
    assert slugs(offset="5") == ([], 3)

    single = conduit.get(f"/api/articles/{first['slug']}")
    assert single.status_code == 200
    _check_article(single.json()["article"])
    _error(conduit.get("/api/articles/no-such-article"), 404)

    updated = conduit.put(
        f"/api/articles/{first['slug']}",
        json={"article": {"body": "With two hands"}},
        headers=jake_headers,
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["article"]["body"] == "With two hands"
    assert updated.json()["article"]["title"] == first["title"]
    assert updated.json()["article"]["updatedAt"] >= first["updatedAt"]
    _error(
        conduit.put(
            f"/api/articles/{first['slug']}", json={"article": {"body": "x"}}, headers=ann_headers
        ),
        403,
    )
    _error(conduit.put(f"/api/articles/{first['slug']}", json={"article": {"body": "x"}}), 401)

    _error(conduit.delete(f"/api/articles/{first['slug']}", headers=ann_headers), 403)
    deleted = conduit.delete(f"/api/articles/{first['slug']}", headers=jake_headers)
    assert deleted.status_code == 200
    _error(conduit.get(f"/api/articles/{first['slug']}"), 404)
    _error(conduit.delete(f"/api/articles/{first['slug']}", headers=jake_headers), 404)
    assert jake["username"] == "jake" and ann["username"] == "ann"


def test_favorites_count_and_filter_per_caller(conduit):
    _jake, jake_headers = _register(conduit, "jake")
    _ann, ann_headers = _register(conduit, "ann")
    article = _new_article(conduit, jake_headers)
    slug = article["slug"]
    _error(conduit.post(f"/api/articles/{slug}/favorite"), 401)
    favorited = conduit.post(f"/api/articles/{slug}/favorite", headers=ann_headers)
    assert favorited.status_code == 200, favorited.text
    _check_article(favorited.json()["article"])
    assert favorited.json()["article"]["favorited"] is True
    assert favorited.json()["article"]["favoritesCount"] == 1
    twice = conduit.post(f"/api/articles/{slug}/favorite", headers=ann_headers)
    assert twice.json()["article"]["favoritesCount"] == 1
    # Per caller: jake did not favorite it; anonymous readers see the count only.
    assert (
        conduit.get(f"/api/articles/{slug}", headers=jake_headers).json()["article"]["favorited"]
        is False
    )
    assert conduit.get(f"/api/articles/{slug}").json()["article"]["favoritesCount"] == 1
    by_ann = conduit.get("/api/articles", params={"favorited": "ann"}).json()
    assert [a["slug"] for a in by_ann["articles"]] == [slug] and by_ann["articlesCount"] == 1
    assert conduit.get("/api/articles", params={"favorited": "jake"}).json()["articlesCount"] == 0
    unfavorited = conduit.delete(f"/api/articles/{slug}/favorite", headers=ann_headers)
    assert unfavorited.status_code == 200
    assert unfavorited.json()["article"]["favorited"] is False
    assert unfavorited.json()["article"]["favoritesCount"] == 0
    _error(conduit.post("/api/articles/no-such-article/favorite", headers=ann_headers), 404)


def test_comments_on_an_article(conduit):
    _jake, jake_headers = _register(conduit, "jake")
    _ann, ann_headers = _register(conduit, "ann")
    slug = _new_article(conduit, jake_headers)["slug"]
    created = conduit.post(
        f"/api/articles/{slug}/comments",
        json={"comment": {"body": "Thank you so much!"}},
        headers=ann_headers,
    )
    assert created.status_code == 200, created.text
    comment = created.json()["comment"]
    assert set(comment) == COMMENT_KEYS
    assert comment["body"] == "Thank you so much!"
    assert ISO_8601.match(comment["createdAt"])
    assert comment["author"]["username"] == "ann"
    _error(conduit.post(f"/api/articles/{slug}/comments", json={"comment": {"body": "x"}}), 401)
    _error(
        conduit.post(f"/api/articles/{slug}/comments", json={"comment": {}}, headers=ann_headers),
        422,
    )
    _error(
        conduit.post(
            "/api/articles/no-such-article/comments",
            json={"comment": {"body": "x"}},
            headers=ann_headers,
        ),
        404,
    )
    listed = conduit.get(f"/api/articles/{slug}/comments")
    assert listed.status_code == 200
    assert [c["id"] for c in listed.json()["comments"]] == [comment["id"]]
    assert set(listed.json()["comments"][0]) == COMMENT_KEYS
    _error(conduit.get("/api/articles/no-such-article/comments"), 404)
    _error(
        conduit.delete(f"/api/articles/{slug}/comments/{comment['id']}", headers=jake_headers), 403
    )
    removed = conduit.delete(f"/api/articles/{slug}/comments/{comment['id']}", headers=ann_headers)
    assert removed.status_code == 200
    assert conduit.get(f"/api/articles/{slug}/comments").json()["comments"] == []


def test_profiles_follows_and_the_feed(conduit):
    _jake, jake_headers = _register(conduit, "jake")
    _ann, ann_headers = _register(conduit, "ann")
    article = _new_article(conduit, jake_headers)
    profile = conduit.get("/api/profiles/jake")
    assert profile.status_code == 200
    assert set(profile.json()["profile"]) == PROFILE_KEYS
    assert profile.json()["profile"]["following"] is False
    _error(conduit.get("/api/profiles/nobody"), 404)
    _error(conduit.post("/api/profiles/jake/follow"), 401)

    assert conduit.get("/api/articles/feed", headers=ann_headers).json() == {
        "articles": [],
        "articlesCount": 0,
    }
    followed = conduit.post("/api/profiles/jake/follow", headers=ann_headers)
    assert followed.status_code == 200, followed.text
    assert followed.json()["profile"] == {
        "username": "jake",
        "bio": None,
        "image": None,
        "following": True,
    }
    assert conduit.get("/api/profiles/jake", headers=ann_headers).json()["profile"]["following"]
    feed = conduit.get("/api/articles/feed", headers=ann_headers).json()
    assert [a["slug"] for a in feed["articles"]] == [article["slug"]]
    assert feed["articlesCount"] == 1
    assert feed["articles"][0]["author"]["following"] is True
    # The feed is the caller's own: jake follows nobody.
    assert conduit.get("/api/articles/feed", headers=jake_headers).json()["articlesCount"] == 0
    _error(conduit.get("/api/articles/feed"), 401)

    unfollowed = conduit.delete("/api/profiles/jake/follow", headers=ann_headers)
    assert unfollowed.status_code == 200
    assert unfollowed.json()["profile"]["following"] is False
    assert conduit.get("/api/articles/feed", headers=ann_headers).json()["articlesCount"] == 0


def test_tags_list_every_tag_in_use(conduit):
    _jake, headers = _register(conduit, "jake")
    assert conduit.get("/api/tags").json() == {"tags": []}
    _new_article(conduit, headers, tags=["dragons", "training"])
    _new_article(conduit, headers, tags=["dragons", "angular"])
    tags = conduit.get("/api/tags")
    assert tags.status_code == 200
    assert sorted(tags.json()["tags"]) == ["angular", "dragons", "training"]


def test_unknown_parameters_and_fields_are_refused_in_the_contracts_error_shape(conduit):
    _jake, headers = _register(conduit, "jake")
    _error(conduit.get("/api/articles", params={"limit": "0"}), 400)
    _error(conduit.get("/api/articles", params={"limit": "³"}), 400)
    _error(conduit.get("/api/articles", params={"sort": "title"}), 400)
    _error(
        conduit.post(
            "/api/articles",
            json={"article": {"title": "t", "description": "d", "body": "b", "author": "x"}},
            headers=headers,
        ),
        422,
    )
    # A value that looks like an injection is a bound parameter: it matches nothing.
    injected = conduit.get("/api/articles", params={"author": 'jake" || author.username != "'})
    assert injected.json()["articlesCount"] == 0
    # Text no database can store is refused, not sent to it (PostgreSQL refuses NUL).
    _error(conduit.get("/api/articles", params={"favorited": "a\x00b"}), 400)
    _error(conduit.get("/api/profiles/a%00b"), 404)
