"""Relations of every kind in the one expression language, for clients and rules alike: paths
through several relations, one-to-many (`via`), many-to-many through a declared collection, and
stored many-to-many relations whose value is part of the record; any() and count() over them."""

from __future__ import annotations

import pytest

from backforge.spec import DeclarationError, load_dict

PASSWORD = "a long enough password"
MEMBER_ONLY = "any(project.team.memberships, user = auth.id)"

TRACKER = {
    "name": "tracker",
    "collections": {
        "users": {
            "auth": True,
            "fields": {
                "name": {"type": "text"},
                "manager": {"type": "relation", "to": "users"},
            },
            "relations": {
                "followers": {
                    "to": "users",
                    "through": "follows",
                    "through_fields": ["followee", "follower"],
                },
            },
            "rules": {"list": "public", "view": "public"},
        },
        "follows": {
            "fields": {
                "follower": {
                    "type": "relation",
                    "to": "users",
                    "required": True,
                    "default": "auth.id",
                    "readonly": True,
                },
                "followee": {"type": "relation", "to": "users", "required": True},
            },
            "unique": [["follower", "followee"]],
            "rules": {
                "list": "public",
                "view": "public",
                "create": "auth.id != null",
                "delete": "follower = auth.id",
            },
        },
        "teams": {
            "fields": {"name": {"type": "text", "required": True}},
            "relations": {"memberships": {"to": "memberships", "via": "team"}},
            "rules": {
                "list": "any(memberships, user = auth.id)",
                "view": "any(memberships, user = auth.id)",
                "create": "auth.id != null",
            },
        },
        "memberships": {
            "fields": {
                "team": {"type": "relation", "to": "teams", "required": True},
                "user": {"type": "relation", "to": "users", "required": True},
                "role": {"type": "select", "values": ["owner", "member"], "default": "member"},
            },
            "unique": [["team", "user"]],
            # Members see their teams' memberships; an owner adds people.
            "rules": {
                "list": "any(team.memberships, user = auth.id)",
                "view": "any(team.memberships, user = auth.id)",
                "create": 'any(team.memberships, user = auth.id && role = "owner")',
            },
        },
        "projects": {
            "fields": {
                "team": {"type": "relation", "to": "teams", "required": True},
                "name": {"type": "text"},
            },
            "rules": {
                "list": "any(team.memberships, user = auth.id)",
                "view": "any(team.memberships, user = auth.id)",
                "create": "any(team.memberships, user = auth.id)",
            },
        },
        "tasks": {
            "fields": {
                "project": {"type": "relation", "to": "projects", "required": True},
                "title": {"type": "text", "required": True},
                "done": {"type": "bool", "default": False},
            },
            "relations": {"labels": {"to": "labels", "key": "name", "create_missing": True}},
            "rules": {
                "list": MEMBER_ONLY,
                "view": MEMBER_ONLY,
                "create": MEMBER_ONLY,
                "update": MEMBER_ONLY,
            },
        },
        "labels": {
            "fields": {"name": {"type": "text", "required": True, "unique": True}},
            "rules": {"list": "public", "view": "public", "create": "auth.id != null"},
        },
    },
}


@pytest.fixture
def tracker(make_client):
    client = make_client(TRACKER)
    accounts = {}
    for name in ("ann", "bob", "cy"):
        answer = client.post(
            "/api/auth/users/signup",
            json={"email": f"{name}@example.org", "password": PASSWORD, "name": name},
        )
        assert answer.status_code == 201, answer.text
        token = answer.json()["access_token"]
        accounts[name] = ({"Authorization": f"Bearer {token}"}, answer.json()["record"]["id"])
    return client, accounts


def _team_with_owner(client, headers, owner_id, admin, name="core"):
    team = client.post("/api/teams", json={"name": name}, headers=headers)
    assert team.status_code == 201, team.text
    # The first owner is seeded by an admin: nobody is a member of a new team yet.
    owner = {"team": team.json()["id"], "user": owner_id, "role": "owner"}
    assert client.post("/api/memberships", json=owner, headers=admin).status_code == 201
    return team.json()["id"]


def test_membership_through_several_relations_decides_who_sees_a_task(tracker, admin):
    client, accounts = tracker
    (ann, ann_id), (bob, bob_id), (cy, _) = accounts["ann"], accounts["bob"], accounts["cy"]
    team = _team_with_owner(client, ann, ann_id, admin)
    project = client.post("/api/projects", json={"team": team, "name": "p"}, headers=ann)
    assert project.status_code == 201, project.text
    task = client.post(
        "/api/tasks", json={"project": project.json()["id"], "title": "ship"}, headers=ann
    )
    assert task.status_code == 201, task.text
    # bob is no member yet: he sees nothing and cannot add a task to the project.
    assert client.get("/api/tasks", headers=bob).json()["items"] == []
    refused = client.post(
        "/api/tasks", json={"project": project.json()["id"], "title": "x"}, headers=bob
    )
    assert refused.status_code in (403, 422)
    # cy, no owner, cannot add bob; ann, the owner, can.
    bob_in = {"team": team, "user": bob_id}
    assert client.post("/api/memberships", json=bob_in, headers=cy).status_code in (403, 422)
    assert client.post("/api/memberships", json=bob_in, headers=ann).status_code == 201
    listed = client.get("/api/tasks", headers=bob).json()["items"]
    assert [t["title"] for t in listed] == ["ship"]
    # A filter through three relations, by a client.
    found = client.get(
        "/api/tasks", params={"filter": 'project.team.name = "core"'}, headers=bob
    ).json()["items"]
    assert len(found) == 1
    # Counting through the path with a condition that holds for nothing counts none.
    for expression, expected in (
        ("count(project.team.memberships, false) = 0", 1),
        ("count(project.team.memberships, false) > 0", 0),
        ("any(project.team.memberships, false)", 0),
    ):
        answer = client.get("/api/tasks", params={"filter": expression}, headers=bob)
        assert answer.status_code == 200, (expression, answer.text)
        assert len(answer.json()["items"]) == expected, expression
    assert client.get("/api/tasks", headers=cy).json()["items"] == []


def test_a_path_through_the_same_collection_twice_reads_the_related_record(tracker, admin):
    client, _ = tracker
    boss = client.post(
        "/api/users",
        json={"email": "boss@example.org", "password": PASSWORD, "name": "boss"},
        headers=admin,
    ).json()
    middle = client.post(
        "/api/users",
        json={
            "email": "mid@example.org",
            "password": PASSWORD,
            "name": "mid",
            "manager": boss["id"],
        },
        headers=admin,
    ).json()
    client.post(
        "/api/users",
        json={
            "email": "low@example.org",
            "password": PASSWORD,
            "name": "low",
            "manager": middle["id"],
        },
        headers=admin,
    )

    def names(expression):
        answer = client.get("/api/users", params={"filter": expression, "sort": "name"})
        assert answer.status_code == 200, answer.text
        return [u["name"] for u in answer.json()["items"]]

    assert names('manager.name = "boss"') == ["mid"]
    assert names('manager.manager.name = "boss"') == ["low"]
    assert names("manager.manager.name = null") == ["ann", "bob", "boss", "cy", "mid"]


def test_many_to_many_through_a_collection_answers_followers_and_a_feed(tracker):
    client, accounts = tracker
    (ann, ann_id), (bob, bob_id), (cy, cy_id) = accounts["ann"], accounts["bob"], accounts["cy"]
    assert client.post("/api/follows", json={"followee": ann_id}, headers=bob).status_code == 201
    assert client.post("/api/follows", json={"followee": ann_id}, headers=cy).status_code == 201
    again = client.post("/api/follows", json={"followee": ann_id}, headers=bob)
    assert again.status_code == 409  # unique over two fields
    assert again.json()["detail"] == (
        "another record already has these values of 'follower', 'followee'"
    )
    assert again.json()["field"] == "followee"

    def names(expression, headers=None):
        answer = client.get(
            "/api/users", params={"filter": expression, "sort": "name"}, headers=headers
        )
        assert answer.status_code == 200, answer.text
        return [u["name"] for u in answer.json()["items"]]

    assert names("any(followers, id = auth.id)", bob) == ["ann"]
    assert names("any(followers, id = auth.id)", ann) == []
    assert names('any(followers, name = "cy")') == ["ann"]
    assert names("count(followers) = 2") == ["ann"]
    assert names("count(followers) = 0") == ["bob", "cy"]
    assert names(f'!any(followers, id = "{cy_id}")') == ["bob", "cy"]
    assert names("any(followers)") == ["ann"]
    assert bob_id != cy_id


def test_stored_relation_is_part_of_the_record_and_written_by_key(tracker, admin):
    client, accounts = tracker
    ann, ann_id = accounts["ann"]
    team = _team_with_owner(client, ann, ann_id, admin)
    project = client.post("/api/projects", json={"team": team}, headers=ann).json()["id"]
    created = client.post(
        "/api/tasks",
        json={"project": project, "title": "a", "labels": ["bug", "ui", "bug"]},
        headers=ann,
    )
    assert created.status_code == 201, created.text
    assert created.json()["labels"] == ["bug", "ui"]
    task = created.json()["id"]
    # Missing labels were created under ann's create rule of labels.
    assert sorted(x["name"] for x in client.get("/api/labels").json()["items"]) == ["bug", "ui"]
    changed = client.patch(f"/api/tasks/{task}", json={"labels": ["ui", "docs"]}, headers=ann)
    assert changed.status_code == 200, changed.text
    assert changed.json()["labels"] == ["ui", "docs"]
    assert client.get(f"/api/tasks/{task}", headers=ann).json()["labels"] == ["ui", "docs"]
    other = client.post("/api/tasks", json={"project": project, "title": "b"}, headers=ann)
    assert other.json()["labels"] == []
    listed = client.get("/api/tasks", params={"sort": "title"}, headers=ann).json()["items"]
    assert [t["labels"] for t in listed] == [["ui", "docs"], []]
    by_label = client.get(
        "/api/tasks", params={"filter": 'any(labels, name = "docs")'}, headers=ann
    ).json()["items"]
    assert [t["title"] for t in by_label] == ["a"]
    counted = client.get("/api/tasks", params={"filter": "count(labels) >= 2"}, headers=ann).json()[
        "items"
    ]
    assert [t["title"] for t in counted] == ["a"]
    only = client.get(f"/api/tasks/{task}", params={"fields": "title"}, headers=ann).json()
    assert "labels" not in only
    null = client.patch(f"/api/tasks/{task}", json={"labels": None}, headers=ann)
    assert null.status_code == 422
    not_a_list = client.patch(f"/api/tasks/{task}", json={"labels": "ui"}, headers=ann)
    assert not_a_list.status_code == 422
    # The link table is backforge's: no record routes.
    assert client.get("/api/tasks_labels", headers=admin).status_code == 404
    assert "/api/tasks_labels" not in client.get("/api/openapi.json").json()["paths"]


def test_stored_relation_by_id_refuses_records_the_caller_cannot_see(make_client):
    client = make_client(
        {
            "name": "shelves",
            "collections": {
                "books": {
                    "fields": {"title": {"type": "text"}, "secret": {"type": "bool"}},
                    "rules": {"list": "secret = false", "view": "secret = false"},
                },
                "shelves": {
                    "fields": {"name": {"type": "text"}},
                    "relations": {"books": {"to": "books"}},
                    "rules": {
                        "list": "public",
                        "view": "public",
                        "create": "public",
                        "update": "public",
                    },
                },
            },
        }
    )
    admin = {"Authorization": "Bearer test-admin-token-0123456789"}
    open_book = client.post("/api/books", json={"title": "o", "secret": False}, headers=admin)
    secret_book = client.post("/api/books", json={"title": "s", "secret": True}, headers=admin)
    open_id, secret_id = open_book.json()["id"], secret_book.json()["id"]
    refused = client.post("/api/shelves", json={"books": [open_id, secret_id]})
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {"path": "/books", "message": f"no record '{secret_id}' in books"}
    ]
    shelf = client.post("/api/shelves", json={"books": [open_id]}, headers={}).json()
    # An admin adds the secret book; anonymous readers still see only the open one, and
    # cannot drop the book they cannot see by leaving it out.
    client.patch(f"/api/shelves/{shelf['id']}", json={"books": [open_id, secret_id]}, headers=admin)
    assert client.get(f"/api/shelves/{shelf['id']}").json()["books"] == [open_id]
    assert client.patch(f"/api/shelves/{shelf['id']}", json={"books": []}).json()["books"] == []
    client.patch(f"/api/shelves/{shelf['id']}", json={"books": [open_id]})
    # Members read in the order they were added: the open book came back last.
    assert client.get(f"/api/shelves/{shelf['id']}", headers=admin).json()["books"] == [
        secret_id,
        open_id,
    ]
    # count() without a condition counts links; any() reading a field sees only visible books.
    assert (
        len(client.get("/api/shelves", params={"filter": "count(books) = 2"}).json()["items"]) == 1
    )
    hidden = client.get("/api/shelves", params={"filter": 'any(books, title = "s")'})
    assert hidden.json()["items"] == []
    # Deleting a book removes it from the shelf (the link cascades).
    assert client.delete(f"/api/books/{secret_id}", headers=admin).status_code == 204
    assert client.get(f"/api/shelves/{shelf['id']}", headers=admin).json()["books"] == [open_id]


def test_one_to_many_counts_only_the_related_records_the_caller_may_view(make_client, admin):
    client = make_client(
        {
            "name": "posts",
            "collections": {
                "posts": {
                    "fields": {"title": {"type": "text"}},
                    "relations": {"comments": {"to": "comments", "via": "post"}},
                    "rules": {"list": "public", "view": "public"},
                },
                "comments": {
                    "fields": {
                        "post": {"type": "relation", "to": "posts", "required": True},
                        "approved": {"type": "bool", "default": False},
                    },
                    "rules": {"list": "approved = true", "view": "approved = true"},
                },
            },
        }
    )
    post = client.post("/api/posts", json={"title": "p"}, headers=admin).json()["id"]
    for approved in (True, False, False):
        comment = {"post": post, "approved": approved}
        assert client.post("/api/comments", json=comment, headers=admin).status_code == 201

    def count(expression, headers=None):
        answer = client.get("/api/posts", params={"filter": expression}, headers=headers)
        assert answer.status_code == 200, answer.text
        return len(answer.json()["items"])

    assert count("count(comments) = 1") == 1
    assert count("count(comments) = 3") == 0
    assert count("count(comments) = 3", admin) == 1
    assert count("count(comments, approved = false) = 2", admin) == 1
    assert count("any(comments, approved = false)") == 0


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ('followers.name = "x"', "'followers' holds many records"),
        ("count(followers)", "is a number: compare it"),
        ("any(followers) = true", "any(...) is already true or false"),
        ("median(followers) > 1", "unknown function 'median'"),
        ("any(name, id = 1)", "'name' is not a to-many relation of users"),
        ("any(manager.followers, nope = 1)", "unknown field 'nope'"),
        ("manager.manager.manager.manager.manager.name = 1", "at most 4 relations"),
        ("any(auth.followers)", "counts the records of a relation"),
    ],
)
def test_relation_mistakes_in_a_filter_answer_400_naming_the_problem(tracker, expression, message):
    client, _ = tracker
    answer = client.get("/api/users", params={"filter": expression})
    assert answer.status_code == 400
    assert message in answer.json()["detail"]


def test_expanding_a_to_many_relation_says_how_to_read_it(tracker):
    client, _ = tracker
    many = client.get("/api/users", params={"expand": "followers"})
    assert many.status_code == 400 and "declare a shape that nests them" in many.json()["detail"]
    unknown = client.get("/api/users", params={"expand": "nope"})
    assert unknown.status_code == 400
    assert "relation fields: manager" in unknown.json()["detail"]


def _declaration_error(collections: dict) -> str:
    with pytest.raises(DeclarationError) as caught:
        load_dict({"name": "x", "collections": collections})
    return str(caught.value)


def test_declaring_a_relation_wrongly_names_the_fix():
    users = {"fields": {}}
    posts = {"fields": {"author": {"type": "relation", "to": "users"}}}
    assert "'via' names a relation field of posts that points to users (it has: author)" in (
        _declaration_error(
            {
                "users": {**users, "relations": {"posts": {"to": "posts", "via": "title"}}},
                "posts": posts,
            }
        )
    )
    pairs = {
        "fields": {
            "a": {"type": "relation", "to": "users"},
            "b": {"type": "relation", "to": "users"},
        }
    }
    ambiguous = {"users": {"fields": {}, "relations": {"x": {"to": "users", "through": "pairs"}}}}
    assert "name the two relation fields of pairs" in _declaration_error(
        {**ambiguous, "pairs": pairs}
    )
    keyed = {
        "users": {"fields": {}, "relations": {"tags": {"to": "tags", "key": "name"}}},
        "tags": {"fields": {"name": {"type": "text"}}},
    }
    assert "'key' names a unique text or number field of tags" in _declaration_error(keyed)
    clash = {
        "users": {"fields": {"name": {"type": "text"}}, "relations": {"name": {"to": "users"}}}
    }
    assert "'name' is already a field of users" in _declaration_error(clash)
    via_any = {
        "users": {
            "fields": {},
            "relations": {"posts": {"to": "posts", "via": "author", "reference": "any"}},
        },
        "posts": posts,
    }
    assert "'reference' applies to relations without via or through" in _declaration_error(via_any)
    unique = {"users": {"fields": {"name": {"type": "text"}}, "unique": [["name", "nope"]]}}
    assert "unknown field 'nope'" in _declaration_error(unique)


def test_a_relation_may_name_a_record_the_writer_cannot_see_when_declared(make_client, admin):
    """Adding a member to a team by id: the member's record is private to them."""
    declaration = {
        "name": "teams",
        "collections": {
            "users": {"auth": True, "fields": {}, "rules": {"view": "id = auth.id"}},
            "teams": {
                "fields": {"name": {"type": "text"}},
                "relations": {"members": {"to": "memberships", "via": "team"}},
                "rules": {"view": "any(members, user = auth.id)", "create": "auth.id != null"},
            },
            "memberships": {
                "fields": {
                    "team": {"type": "relation", "to": "teams", "required": True},
                    "user": {"type": "relation", "to": "users", "required": True},
                    "invited": {"type": "relation", "to": "users"},
                },
                "rules": {
                    "list": "user = auth.id",
                    "view": "user = auth.id",
                    "create": "any(team.members, user = auth.id)",
                },
            },
        },
    }
    declaration["collections"]["memberships"]["fields"]["user"]["reference"] = "any"
    client = make_client(declaration)
    tokens = {}
    for name in ("owner", "newcomer"):
        answer = client.post(
            "/api/auth/users/signup", json={"email": f"{name}@example.org", "password": PASSWORD}
        )
        tokens[name] = (
            {"Authorization": f"Bearer {answer.json()['access_token']}"},
            answer.json()["record"]["id"],
        )
    owner, owner_id = tokens["owner"]
    newcomer, newcomer_id = tokens["newcomer"]
    team = client.post("/api/teams", json={"name": "core"}, headers=admin).json()["id"]
    seed = {"team": team, "user": owner_id}
    assert client.post("/api/memberships", json=seed, headers=admin).status_code == 201
    # The owner cannot view the newcomer's account, yet may add them: `reference: any`.
    added = client.post("/api/memberships", json={"team": team, "user": newcomer_id}, headers=owner)
    assert added.status_code == 201, added.text
    assert client.get(f"/api/teams/{team}", headers=newcomer).status_code == 200
    # A field without it still names only what the writer may view.
    invited = {"team": team, "user": owner_id, "invited": newcomer_id}
    refused = client.post("/api/memberships", json=invited, headers=owner)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["path"] == "/invited"
    # An id that exists nowhere is refused either way.
    nobody = client.post("/api/memberships", json={"team": team, "user": "a" * 15}, headers=owner)
    assert nobody.status_code == 422


def test_members_named_by_email_the_writer_cannot_see_when_declared(make_client, admin):
    """A team's members as a list of emails: the owner names accounts private to their
    owners, the membership then decides who sees the team, and readers see only members
    they may view."""
    declaration = {
        "name": "rooms",
        "collections": {
            "users": {"auth": True, "fields": {}, "rules": {"view": "id = auth.id"}},
            "rooms": {
                "fields": {
                    "name": {"type": "text"},
                    "owner": {"type": "relation", "to": "users", "default": "auth.id"},
                },
                "relations": {
                    "members": {"to": "users", "key": "email", "reference": "any"},
                    "guests": {"to": "users", "key": "email"},
                },
                "rules": {
                    "list": "owner = auth.id || any(members, id = auth.id)",
                    "view": "owner = auth.id || any(members, id = auth.id)",
                    "create": "auth.id != null",
                    "update": "owner = auth.id",
                },
            },
        },
    }
    client = make_client(declaration)
    headers = {}
    for name in ("ann", "bob", "cy"):
        answer = client.post(
            "/api/auth/users/signup", json={"email": f"{name}@example.org", "password": PASSWORD}
        )
        assert answer.status_code == 201, answer.text
        headers[name] = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    room = client.post("/api/rooms", json={"name": "den"}, headers=headers["ann"]).json()
    assert client.get("/api/rooms", headers=headers["bob"]).json()["items"] == []
    # Bob's account is private to Bob; with reference: any, Ann may still name him.
    added = client.patch(
        f"/api/rooms/{room['id']}", json={"members": ["BOB@example.org"]}, headers=headers["ann"]
    )
    assert added.status_code == 200, added.text
    assert added.json()["members"] == []  # Ann may not view Bob's account
    assert [r["id"] for r in client.get("/api/rooms", headers=headers["bob"]).json()["items"]] == [
        room["id"]
    ]
    assert client.get(f"/api/rooms/{room['id']}", headers=headers["bob"]).json()["members"] == [
        "bob@example.org"
    ]
    assert client.get("/api/rooms", headers=headers["cy"]).json()["items"] == []
    # Members Ann cannot see are not dropped by being left out of her list: she adds Cy.
    more = {"members": ["cy@example.org"]}
    assert client.patch(f"/api/rooms/{room['id']}", json=more, headers=headers["ann"]).is_success
    for name in ("bob", "cy"):
        assert client.get(f"/api/rooms/{room['id']}", headers=headers[name]).status_code == 200
    # An address no account has is refused; a relation without reference: any names only
    # what the writer may view.
    for body, path in (
        ({"members": ["nobody@example.org"]}, "/members"),
        ({"guests": ["cy@example.org"]}, "/guests"),
    ):
        refused = client.patch(f"/api/rooms/{room['id']}", json=body, headers=headers["ann"])
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["path"] == path


def test_sum_avg_min_max_over_related_records_in_filters_and_shapes(make_client, admin):
    client = make_client(
        {
            "name": "reviews",
            "collections": {
                "books": {
                    "fields": {"title": {"type": "text"}},
                    "relations": {"reviews": {"to": "reviews", "via": "book"}},
                    "rules": {"list": "public", "view": "public"},
                },
                "reviews": {
                    "fields": {
                        "book": {"type": "relation", "to": "books", "required": True},
                        "stars": {"type": "int", "min": 1, "max": 5},
                        "hidden": {"type": "bool", "default": False},
                    },
                    "rules": {"list": "hidden = false", "view": "hidden = false"},
                },
            },
            "shapes": {
                "book": {
                    "collection": "books",
                    "fields": {
                        "title": "title",
                        "stars": "sum(reviews.stars)",
                        "average": "avg(reviews.stars)",
                        "best": "max(reviews.stars)",
                        "worst": "min(reviews.stars, stars > 1)",
                    },
                }
            },
            "routes": {
                "GET /books": {
                    "list": "books",
                    "sort": "title",
                    "paging": {"style": "none"},
                    "response": {"shape": "book"},
                }
            },
        }
    )
    for title, stars in (("good", [5, 4, 1]), ("none", []), ("secret", [5])):
        book = client.post("/api/books", json={"title": title}, headers=admin).json()["id"]
        for value in stars:
            review = {"book": book, "stars": value, "hidden": title == "secret"}
            assert client.post("/api/reviews", json=review, headers=admin).status_code == 201
    from openapi_spec_validator import validate

    document = client.get("/api/openapi.json").json()
    validate(document)
    assert document["components"]["schemas"]["Book"]["properties"]["average"] == {
        "anyOf": [{"type": "number"}, {"type": "null"}]
    }
    shaped = {b["title"]: b for b in client.get("/books").json()}
    assert shaped["good"] == {
        "title": "good",
        "stars": 10,
        "average": pytest.approx(10 / 3),
        "best": 5,
        "worst": 4,
    }
    # Nothing to add up: sum is 0, the others are null; hidden reviews count for nobody.
    assert shaped["none"] == {
        "title": "none",
        "stars": 0,
        "average": None,
        "best": None,
        "worst": None,
    }
    assert shaped["secret"]["stars"] == 0

    def titles(expression):
        answer = client.get("/api/books", params={"filter": expression, "sort": "title"})
        assert answer.status_code == 200, answer.text
        return [b["title"] for b in answer.json()["items"]]

    assert titles("avg(reviews.stars) >= 3") == ["good"]
    assert titles("sum(reviews.stars) = 0") == ["none", "secret"]
    assert titles("max(reviews.stars, stars < 5) = 4") == ["good"]
    for wrong, message in (
        ("sum(reviews) > 1", "write sum(relation.field)"),
        ("avg(reviews.book) > 1", "avg() adds numbers"),
        ("sum(reviews.stars)", "is a number: compare it"),
    ):
        answer = client.get("/api/books", params={"filter": wrong})
        assert answer.status_code == 400 and message in answer.json()["detail"], answer.text
