"""Declared routes, each capability over HTTP on SQLite and PostgreSQL: keys and parents, bound
parameters, paging styles, envelopes and plain answers, shapes with computed and read-guarded
values, updates by PUT and PATCH with If-Match, link/unlink, the account flows, error shapes, and
the declaration mistakes `check` names."""

from __future__ import annotations

import copy
import json

import pytest

from backforge.spec import DeclarationError, load_dict

PASSWORD = "a long enough password"
LIBRARIAN_ONLY = 'auth.role = "librarian"'
LIBRARY = {
    "name": "library",
    "collections": {
        "members": {
            "auth": True,
            "fields": {
                "name": {"type": "text", "required": True, "max_length": 50},
                "role": {
                    "type": "select",
                    "values": ["reader", "librarian"],
                    "default": "reader",
                    "readonly": True,
                },
            },
            "rules": {"list": "public", "view": "public", "update": "id = auth.id"},
        },
        "shelves": {
            "fields": {
                "code": {"type": "text", "required": True, "unique": True},
                "floor": {"type": "int", "default": 0},
            },
            # The 13th floor is the librarians' own.
            "rules": {
                "list": f"floor != 13 || {LIBRARIAN_ONLY}",
                "view": f"floor != 13 || {LIBRARIAN_ONLY}",
                "create": LIBRARIAN_ONLY,
            },
        },
        "books": {
            "fields": {
                "isbn": {"type": "text", "required": True, "unique": True, "max_length": 20},
                "title": {"type": "text", "required": True, "min_length": 1},
                "year": {"type": "int"},
                "shelf": {"type": "relation", "to": "shelves", "required": True},
                "note": {"type": "text", "read": LIBRARIAN_ONLY},
            },
            "relations": {"readers": {"to": "members"}},
            "rules": {
                "list": "public",
                "view": "public",
                "create": LIBRARIAN_ONLY,
                "update": f"{LIBRARIAN_ONLY} || auth.id != null",
                "delete": LIBRARIAN_ONLY,
            },
            "record_routes": ["list", "view"],
        },
    },
    "shapes": {
        "book": {
            "collection": "books",
            "fields": {
                "isbn": "isbn",
                "title": "title",
                "year": "year",
                "shelfCode": "shelf.code",
                "readerCount": "count(readers)",
                "readByMe": "any(readers, id = auth.id)",
                "librarianNote": "note",
                "kind": '"book"',
            },
        },
        "member": {"collection": "members", "fields": ["id", "name", "role"]},
    },
    "errors": {
        "body": {"error": {"code": "{code}", "message": "{detail}", "fields": "{errors_by_field}"}},
        "status": {"422": 400},
    },
    "routes": {
        "GET /v2/shelves/{code}/books": {
            "list": "books",
            "parent": {"collection": "shelves", "key": "code"},
            "query": {
                "since": "year >= params.since",
                "q": {"filter": "title ~ params.q", "description": "words of the title"},
            },
            "sort": "title",
            "paging": {"style": "cursor", "limit": "page_size", "cursor": "page", "default": 2},
            "response": {"envelope": "data", "count": "total", "cursor": "next"},
        },
        "POST /v2/shelves/{code}/books": {
            "create": "books",
            "parent": {"collection": "shelves", "key": "code"},
            "response": {"shape": "book"},
        },
        "GET /v2/books": {"list": "books", "sort": "title", "paging": {"style": "none"}},
        "GET /v2/isbns": {
            "list": "books",
            "sort": "isbn",
            "paging": {"style": "offset", "limit": "take", "offset": "skip", "max": 2},
            "response": {"pluck": "isbn"},
        },
        "GET /v2/books/{isbn}": {
            "get": "books",
            "key": "isbn",
            "response": {"shape": "book", "envelope": "book"},
            "errors": {"status": {"404": 410}},
        },
        "PUT /v2/books/{isbn}": {
            "update": "books",
            "key": "isbn",
            "request": {"shape": "book"},
            "response": {"shape": "book"},
        },
        "PATCH /v2/books/{isbn}": {"update": "books", "key": "isbn"},
        "DELETE /v2/books/{isbn}": {"delete": "books", "key": "isbn"},
        "GET /v2/count": {
            "count": "books",
            "query": {"shelf": "shelf.code = params.shelf"},
            "response": {"envelope": "books"},
        },
        "POST /v2/books/{isbn}/read": {
            "link": "books.readers",
            "key": "isbn",
            "response": {"shape": "book"},
        },
        "DELETE /v2/books/{isbn}/read": {
            "unlink": "books.readers",
            "key": "isbn",
            "response": {"shape": "book"},
        },
        "POST /v2/join": {"signup": "members"},
        "POST /v2/session": {"login": "members"},
        "POST /v2/session/refresh": {"refresh": "members"},
        "POST /v2/session/end": {"logout": "members"},
        "GET /v2/me": {"me": "members", "response": {"shape": "member", "envelope": "me"}},
        "PATCH /v2/me": {"update_me": "members", "response": {"shape": "member"}},
    },
}


@pytest.fixture
def library(make_client, admin):
    client = make_client(LIBRARY)
    people = {}
    for name in ("lena", "rob"):
        joined = client.post(
            "/v2/join", json={"email": f"{name}@example.org", "password": PASSWORD, "name": name}
        )
        assert joined.status_code == 201, joined.text
        people[name] = joined.json()
    lena = people["lena"]["record"]["id"]
    # Only an admin makes a librarian.
    promoted = client.patch(f"/api/members/{lena}", json={"role": "librarian"}, headers=admin)
    assert promoted.status_code == 200, promoted.text
    login = client.post("/v2/session", json={"email": "lena@example.org", "password": PASSWORD})
    headers = {
        "lena": {"Authorization": f"Bearer {login.json()['access_token']}"},
        "rob": {"Authorization": f"Bearer {people['rob']['access_token']}"},
    }
    for code, floor in (("A", 1), ("B", 2), ("X", 13)):
        shelf = client.post("/api/shelves", json={"code": code, "floor": floor}, headers=admin)
        assert shelf.status_code == 201, shelf.text
    return client, headers


def _book(client, headers, shelf, isbn, title, year=2000):
    answer = client.post(
        f"/v2/shelves/{shelf}/books",
        json={"isbn": isbn, "title": title, "year": year},
        headers=headers,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def _error(answer, status: int, code: str) -> dict:
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["code"] == code, error
    return error


def test_a_parent_narrows_lists_and_sets_the_relation_on_create(library):
    client, people = library
    lena, rob = people["lena"], people["rob"]
    created = _book(client, lena, "A", "111", "Dune", 1965)
    assert created["shelfCode"] == "A" and created["kind"] == "book"
    _book(client, lena, "A", "222", "Emma", 1815)
    _book(client, lena, "A", "333", "Ubik", 1969)
    _book(client, lena, "B", "444", "Solaris", 1961)
    _book(client, lena, "X", "555", "Secret", 1999)
    # The body may not name the parent: the path does.
    named = client.post(
        "/v2/shelves/A/books", json={"isbn": "9", "title": "t", "shelf": "x"}, headers=lena
    )
    assert "shelf" in _error(named, 400, "validation")["fields"]
    _error(
        client.post("/v2/shelves/A/books", json={"isbn": "9", "title": "t"}, headers=rob),
        403,
        "forbidden",
    )
    _error(
        client.post("/v2/shelves/Z/books", json={"isbn": "9", "title": "t"}, headers=lena),
        404,
        "not-found",
    )

    page = client.get("/v2/shelves/A/books")
    assert page.status_code == 200
    body = page.json()
    assert [b["title"] for b in body["data"]] == ["Dune", "Emma"] and body["total"] == 3
    rest = client.get("/v2/shelves/A/books", params={"page": body["next"]}).json()
    assert [b["title"] for b in rest["data"]] == ["Ubik"] and rest["next"] is None
    since = client.get("/v2/shelves/A/books", params={"since": "1960", "page_size": "5"}).json()
    assert [b["title"] for b in since["data"]] == ["Dune", "Ubik"] and since["total"] == 2
    words = client.get("/v2/shelves/A/books", params={"q": "UN"}).json()
    assert [b["title"] for b in words["data"]] == ["Dune"]
    # The 13th floor does not exist for readers; librarians see it.
    _error(client.get("/v2/shelves/X/books", headers=rob), 404, "not-found")
    assert client.get("/v2/shelves/X/books", headers=lena).json()["total"] == 1


def test_bound_parameters_are_typed_and_never_become_expression_text(library):
    client, people = library
    _book(client, people["lena"], "A", "111", "50% off_sale", 1990)
    _book(client, people["lena"], "A", "222", "Plain", 1991)

    def titles(**query):
        answer = client.get("/v2/shelves/A/books", params={**query, "page_size": "10"})
        assert answer.status_code == 200, answer.text
        return [b["title"] for b in answer.json()["data"]]

    assert titles(q="%") == ["50% off_sale"]  # % and _ are literal, not LIKE wildcards
    assert titles(q="_") == ["50% off_sale"]
    assert titles(q='" || title != "') == []
    assert titles(q="x') OR 1=1 --") == []
    _error(
        client.get("/v2/shelves/A/books", params={"since": "1990 || true"}), 400, "invalid-query"
    )
    _error(client.get("/v2/shelves/A/books", params={"since": "¹⁹⁹⁰"}), 400, "invalid-query")
    _error(client.get("/v2/shelves/A/books", params={"sort": "-title"}), 400, "invalid-query")
    _error(client.get("/v2/shelves/A/books", params={"q": "a", "Q": "b"}), 400, "invalid-query")
    _error(client.get("/v2/shelves/A/books", params=[("q", "a"), ("q", "b")]), 400, "invalid-query")
    _error(client.get("/v2/shelves/A/books", params={"page": "not a cursor"}), 400, "invalid-query")
    _error(client.get("/v2/shelves/A/books", params={"page_size": "0"}), 400, "invalid-query")


def test_a_shape_computes_per_caller_and_honours_read_rules(library):
    client, people = library
    lena, rob = people["lena"], people["rob"]
    _book(client, lena, "A", "111", "Dune")
    client.patch("/v2/books/111", json={"note": "first edition"}, headers=lena)
    as_lena = client.get("/v2/books/111", headers=lena).json()["book"]
    as_rob = client.get("/v2/books/111", headers=rob).json()["book"]
    assert as_lena["librarianNote"] == "first edition"
    assert as_rob["librarianNote"] is None
    assert as_rob["readerCount"] == 0 and as_rob["readByMe"] is False
    read = client.post("/v2/books/111/read", headers=rob)
    assert read.status_code == 200, read.text
    assert read.json()["readerCount"] == 1 and read.json()["readByMe"] is True
    assert client.post("/v2/books/111/read", headers=rob).json()["readerCount"] == 1
    assert client.get("/v2/books/111", headers=lena).json()["book"]["readByMe"] is False
    assert client.get("/v2/books/111").json()["book"]["readerCount"] == 1
    _error(client.post("/v2/books/111/read"), 401, "unauthorized")
    unread = client.delete("/v2/books/111/read", headers=rob)
    assert unread.json()["readByMe"] is False and unread.json()["readerCount"] == 0
    assert client.delete("/v2/books/111/read", headers=rob).status_code == 200
    # The route's own status map: a missing book is 410 here, in the app's error body.
    _error(client.get("/v2/books/000"), 410, "not-found")


def test_put_and_patch_update_with_the_shapes_names_and_if_match(library):
    client, people = library
    lena = people["lena"]
    _book(client, lena, "A", "111", "Dune", 1965)
    put = client.put("/v2/books/111", json={"title": "Dune Messiah", "year": 1969}, headers=lena)
    assert put.status_code == 200, put.text
    assert put.json()["title"] == "Dune Messiah" and put.json()["year"] == 1969
    # A computed name is not writable; the shape's names are the only ones.
    not_writable = client.put("/v2/books/111", json={"readerCount": 5}, headers=lena)
    assert _error(not_writable, 400, "validation")["fields"].keys() == {"readerCount"}
    invalid = client.put("/v2/books/111", json={"title": ""}, headers=lena)
    assert _error(invalid, 400, "validation")["fields"].keys() == {"title"}
    both = client.put("/v2/books/111", json={"title": "", "readerCount": 5}, headers=lena)
    assert _error(both, 400, "validation")["fields"].keys() == {"title", "readerCount"}
    patched = client.patch(
        "/v2/books/111", json={"year": 1970}, headers={**lena, "If-Match": '"2"'}
    )
    assert patched.status_code == 200 and patched.json()["version"] == 3
    stale = client.patch("/v2/books/111", json={"year": 1}, headers={**lena, "If-Match": '"2"'})
    _error(stale, 412, "precondition-failed")
    _error(client.patch("/v2/books/nope", json={"year": 1}, headers=lena), 404, "not-found")


def test_delete_plain_lists_plucks_and_counts(library, admin):
    client, people = library
    lena, rob = people["lena"], people["rob"]
    for isbn, title, shelf in (("3", "C", "A"), ("1", "A", "A"), ("2", "B", "B")):
        _book(client, lena, shelf, isbn, title)
    plain = client.get("/v2/books")
    assert [b["title"] for b in plain.json()] == ["A", "B", "C"]  # a plain array
    assert client.get("/v2/isbns", params={"take": "2", "skip": "1"}).json() == ["2", "3"]
    _error(client.get("/v2/isbns", params={"take": "3"}), 400, "invalid-query")
    _error(client.get("/v2/isbns", params={"skip": "-1"}), 400, "invalid-query")
    assert client.get("/v2/count").json() == {"books": 3}
    assert client.get("/v2/count", params={"shelf": "A"}).json() == {"books": 2}
    _error(client.delete("/v2/books/1", headers=rob), 403, "forbidden")
    deleted = client.delete("/v2/books/1", headers=lena)
    assert deleted.status_code == 204 and deleted.content == b""
    assert client.get("/v2/count").json() == {"books": 2}
    # Record routes serve only what the collection lets them.
    assert client.get("/api/books").status_code == 200
    assert (
        client.post("/api/books", json={"isbn": "7", "title": "t"}, headers=admin).status_code
        == 405
    )


def test_account_flows_at_the_contracts_paths(library):
    client, people = library
    rob = people["rob"]
    me = client.get("/v2/me", headers=rob)
    assert me.status_code == 200
    assert me.json()["me"]["name"] == "rob" and me.json()["me"]["role"] == "reader"
    assert set(me.json()["me"]) == {"id", "name", "role"}
    _error(client.get("/v2/me"), 401, "unauthorized")
    renamed = client.patch("/v2/me", json={"name": "robert"}, headers=rob)
    assert renamed.status_code == 200 and renamed.json()["name"] == "robert"
    _error(client.patch("/v2/me", json={"role": "librarian"}, headers=rob), 400, "validation")
    login = client.post("/v2/session", json={"email": "rob@example.org", "password": PASSWORD})
    tokens = login.json()
    assert set(tokens) >= {"access_token", "refresh_token", "expires_in"}
    refreshed = client.post("/v2/session/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert (
        refreshed.status_code == 200
        and refreshed.json()["refresh_token"] != tokens["refresh_token"]
    )
    ended = client.post(
        "/v2/session/end", json={"refresh_token": refreshed.json()["refresh_token"]}
    )
    assert ended.status_code == 204
    again = client.post(
        "/v2/session/refresh", json={"refresh_token": refreshed.json()["refresh_token"]}
    )
    assert again.status_code in (400, 401)
    _error(
        client.post("/v2/session", json={"email": "rob@example.org", "password": "wrong one!"}),
        401,
        "unauthorized",
    )
    _error(client.post("/v2/session", json={"email": "rob@example.org"}), 400, "validation")
    _error(
        client.post(
            "/v2/join", json={"email": "rob@example.org", "password": PASSWORD, "name": "x"}
        ),
        409,
        "conflict",
    )


def test_declared_writes_run_the_collections_hooks(tmp_path, make_client, admin):
    declaration = copy.deepcopy(LIBRARY)
    declaration["hooks"] = "library_hooks.py"
    (tmp_path / "library_hooks.py").write_text(
        "from backforge.hooks import HookError, Hooks\n"
        "hooks = Hooks()\n\n"
        "@hooks.before_create('books')\n"
        "def shout(ctx):\n"
        "    if ctx.values['title'] == 'no':\n"
        "        raise HookError('not that one', status=409, field='title')\n"
        "    ctx.values['title'] = ctx.values['title'].upper()\n"
    )
    path = tmp_path / "library.yaml"
    path.write_text(json.dumps(declaration))  # JSON is YAML
    client = make_client(path)
    assert client.post("/api/shelves", json={"code": "A"}, headers=admin).status_code == 201
    created = client.post("/v2/shelves/A/books", json={"isbn": "1", "title": "dune"}, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["title"] == "DUNE"
    assert created.headers["location"] == "/v2/books/1"  # the declared GET by isbn
    refused = client.post("/v2/shelves/A/books", json={"isbn": "2", "title": "no"}, headers=admin)
    assert _error(refused, 409, "refused")["message"] == "not that one"


def _problems(changes: dict) -> str:
    declaration = copy.deepcopy(LIBRARY)
    for key, value in changes.items():
        if value is None:
            declaration["routes"].pop(key, None)
        else:
            declaration["routes"][key] = value
    with pytest.raises(DeclarationError) as caught:
        load_dict(declaration)
    return str(caught.value)


@pytest.mark.parametrize(
    ("route", "message"),
    [
        ({"GET /x": {"list": "books", "get": "books"}}, "name exactly one operation"),
        ({"FETCH /x": {"list": "books"}}, "a route is 'METHOD /path'"),
        ({"GET /x": {"list": "nope"}}, "unknown collection 'nope'"),
        ({"GET /x/{title}": {"get": "books", "key": "title"}}, "'title' is not a unique field"),
        ({"GET /x": {"get": "books"}}, "name the unique field that finds the record"),
        ({"GET /x/{a}": {"list": "books"}}, "the path parameter {a} is used by nothing"),
        ({"GET /x": {"list": "books", "response": {"shape": "nope"}}}, "unknown shape 'nope'"),
        (
            {"GET /x": {"list": "books", "response": {"shape": "member"}}},
            "shape 'member' is of members",
        ),
        (
            {"GET /x/{isbn}": {"get": "books", "key": "isbn", "query": {"a": "year = 1"}}},
            "query parameters narrow lists",
        ),
        ({"GET /v2/books/": {"list": "books"}}, "the same method and path"),
        ({"POST /x": {"link": "books.nope", "key": "id"}}, "link names collection.relation"),
        ({"POST /x": {"login": "books"}}, "login needs an auth collection"),
        ({"POST /x": {"list": "books"}}, "list answers GET requests"),
        ({"GET /x": {"list": "books", "status": 204}}, "a list answers a body: 204 has none"),
        (
            {"GET /x": {"list": "books", "response": {"envelope": "data", "count": "data.n"}}},
            "'count: data.n' and 'envelope: data' would hold one place",
        ),
        (
            {"GET /x": {"list": "books", "response": {"envelope": "items", "count": "items"}}},
            "would hold one place",
        ),
        ({"GET /a/{x}": {"get": "books", "key": "id"}, "PUT /a/{y}": {"update": "books"}}, None),
    ],
)
def test_route_mistakes_are_named(route, message):
    problems = _problems(route)
    assert (message or "name the path's parameters as the other routes of it do") in problems


def test_a_contract_only_service_serves_nothing_else_and_answers_in_its_shape(make_client, admin):
    """Account routes off, record routes off: no /api/auth/*, no /api/batch, no /api/<c>;
    the middleware's refusals on declared paths come in the declared error shape too."""
    declaration = {
        "name": "only",
        "collections": {
            "users": {
                "auth": {"routes": False},
                "record_routes": False,
                "fields": {},
                "rules": {"view": "id = auth.id"},
            },
            "notes": {
                "record_routes": False,
                "fields": {"text": {"type": "text"}},
                "rules": {"list": "public", "create": "public"},
            },
        },
        "errors": {"body": {"message": "{detail}", "code": "{code}"}},
        "routes": {
            "POST /join": {"signup": "users"},
            "GET /notes": {"list": "notes", "paging": {"style": "none"}},
        },
        "server": {"limits": {"max_query_length": 64}},
    }
    client = make_client(declaration)
    for path in ("/api/auth/users/login", "/api/auth/me", "/api/batch", "/api/notes"):
        assert client.post(path, json={}, headers=admin).status_code in (404, 405), path
    paths = client.get("/api/openapi.json").json()["paths"]
    assert set(paths) == {"/join", "/notes"}
    too_long = client.get("/notes?" + "x" * 100)
    assert too_long.status_code == 414
    assert too_long.headers["content-type"] == "application/json"
    assert too_long.json()["code"] == "uri-too-long"


def test_numbers_too_long_for_any_field_are_refused_not_crashed_on(library, make_client):
    client, _people = library
    long = "9" * 4000  # a query string stays under its 4096 characters
    assert client.get("/v2/shelves/A/books", params={"since": long}).status_code == 400
    assert client.get("/v2/isbns", params={"skip": long}).status_code == 400
    numbered = make_client(
        {
            "name": "numbered",
            "collections": {
                "rooms": {
                    "fields": {"number": {"type": "int", "unique": True}},
                    "rules": {"view": "public"},
                }
            },
            "routes": {"GET /rooms/{number}": {"get": "rooms", "key": "number"}},
        }
    )
    huge = "9" * 5000  # past Python's own limit for int() of a string; paths have no limit
    assert numbered.get("/rooms/" + huge).status_code == 404
    assert numbered.get("/rooms/12").status_code == 404


BOARDS = {
    "name": "boards",
    "collections": {
        "users": {"auth": True, "fields": {}, "rules": {"view": "public"}},
        "boards": {
            "fields": {"name": {"type": "text", "required": True}},
            "relations": {"memberships": {"to": "members", "via": "board"}},
            "rules": {
                "view": "any(memberships, user = auth.id)",
                "create": "auth.id != null",
            },
        },
        "members": {
            "fields": {
                "board": {"type": "relation", "to": "boards", "required": True},
                "user": {"type": "relation", "to": "users", "required": True},
            },
            "unique": [["board", "user"]],
            "rules": {
                "list": "any(board.memberships, user = auth.id)",
                "view": "any(board.memberships, user = auth.id)",
                "delete": "any(board.memberships, user = auth.id)",
            },
        },
    },
    "errors": {"body": {"error": {"code": "{code}", "message": "{detail}"}}},
    "routes": {
        "GET /v1/boards/{boardId}": {"get": "boards", "key_param": "boardId"},
        "GET /v1/boards/{boardId}/members": {
            "list": "members",
            "parent": {"collection": "boards", "param": "boardId"},
            "response": {"envelope": "data", "count": "meta.total"},
        },
        "DELETE /v1/boards/{boardId}/members/{userId}": {
            "delete": "members",
            "parent": {"collection": "boards", "param": "boardId"},
            "key": "user",
            "key_param": "userId",
        },
    },
}


def test_contract_names_for_parameters_keys_unique_within_a_parent_and_nested_totals(
    make_client, admin
):
    client = make_client(BOARDS)
    people = {}
    for name in ("ann", "bob"):
        signed = client.post(
            "/api/auth/users/signup", json={"email": f"{name}@example.org", "password": PASSWORD}
        ).json()
        people[name] = (
            {"Authorization": f"Bearer {signed['access_token']}"},
            signed["record"]["id"],
        )
    (ann, ann_id), (_bob, bob_id) = people["ann"], people["bob"]
    board = client.post("/api/boards", json={"name": "Roadmap"}, headers=admin).json()["id"]
    for user in (ann_id, bob_id):
        member = {"board": board, "user": user}
        assert client.post("/api/members", json=member, headers=admin).status_code == 201
    assert client.get(f"/v1/boards/{board}", headers=ann).json()["name"] == "Roadmap"
    listed = client.get(f"/v1/boards/{board}/members", headers=ann).json()
    assert listed["meta"] == {"total": 2} and len(listed["data"]) == 2
    gone = client.delete(f"/v1/boards/{board}/members/{bob_id}", headers=ann)
    assert gone.status_code == 204, gone.text
    assert client.get(f"/v1/boards/{board}/members", headers=ann).json()["meta"] == {"total": 1}
    again = client.delete(f"/v1/boards/{board}/members/{bob_id}", headers=ann)
    assert again.status_code == 404 and again.json()["error"]["code"] == "not-found"
    document = client.get("/api/openapi.json").json()
    listing = document["paths"]["/v1/boards/{boardId}/members"]["get"]
    assert [p["name"] for p in listing["parameters"]] == ["boardId", "limit", "offset"]
    answer = listing["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer["properties"]["meta"]["properties"]["total"] == {"type": "integer", "minimum": 0}


def test_a_parent_and_a_record_cannot_read_the_same_path_parameter():
    declaration = copy.deepcopy(BOARDS)
    declaration["routes"] = {
        "DELETE /v1/boards/{id}/members/{userId}": {
            "delete": "members",
            "parent": {"collection": "boards", "key": "id"},
            "filter": "user = params.userId",
        }
    }
    with pytest.raises(DeclarationError) as caught:
        load_dict(declaration)
    assert "the parent and the record both read {id}" in str(caught.value)


def test_a_parameter_compared_with_a_constant_serves_me_shortcuts(make_client, admin):
    """?reader=me is the caller; ?reader=<id> anyone: one statement for both."""
    client = make_client(
        {
            "name": "me",
            "collections": {
                "users": {"auth": True, "fields": {}, "rules": {"view": "public"}},
                "books": {
                    "fields": {"title": {"type": "text"}},
                    "relations": {"readers": {"to": "users"}},
                    "rules": {"list": "public", "view": "public", "update": "auth.id != null"},
                },
            },
            "routes": {
                "GET /books": {
                    "list": "books",
                    "sort": "title",
                    "paging": {"style": "none"},
                    "response": {"pluck": "title"},
                    "query": {
                        "reader": '(params.reader = "me" && any(readers, id = auth.id))'
                        " || any(readers, id = params.reader)"
                    },
                }
            },
        }
    )
    ids = {}
    for name in ("ann", "bob"):
        signed = client.post(
            "/api/auth/users/signup", json={"email": f"{name}@example.org", "password": PASSWORD}
        ).json()
        ids[name] = (signed["record"]["id"], {"Authorization": f"Bearer {signed['access_token']}"})
    for title, readers in (("A", ["ann"]), ("B", ["bob"]), ("C", [])):
        members = [ids[r][0] for r in readers]
        client.post("/api/books", json={"title": title, "readers": members}, headers=admin)
    ann_headers = ids["ann"][1]
    assert client.get("/books", params={"reader": "me"}, headers=ann_headers).json() == ["A"]
    assert client.get("/books", params={"reader": ids["bob"][0]}).json() == ["B"]
    assert client.get("/books", params={"reader": "me"}).json() == []  # anonymous: nobody


def test_each_method_of_a_path_reaches_its_own_route(tmp_path, make_client, admin):
    """A path with a declared or custom route for one method and another route (declared,
    custom or a record route) for the next: each request reaches the route of its method."""
    declaration = {
        "name": "paths",
        "hooks": "paths_hooks.py",
        "collections": {
            "books": {
                "fields": {"slug": {"type": "text", "unique": True, "required": True}},
                "rules": {"list": "public", "view": "public", "create": "public"},
            },
            "todos": {"fields": {"title": {"type": "text"}}, "rules": {"list": "public"}},
        },
        "routes": {
            "GET /api/books/mine": {"count": "books"},
            "DELETE /api/books/{slug}": {"delete": "books", "key": "slug"},
        },
    }
    (tmp_path / "paths_hooks.py").write_text(
        "from backforge.hooks import Endpoints\n"
        "endpoints = Endpoints()\n\n"
        "@endpoints.get('/api/todos')\n"
        "def listed(ctx):\n"
        "    return {'custom': 'get'}\n\n"
        "@endpoints.post('/api/todos')\n"
        "def made(ctx):\n"
        "    return {'custom': 'post'}\n"
    )
    path = tmp_path / "paths.yaml"
    path.write_text(json.dumps(declaration))
    client = make_client(path)
    assert client.post("/api/todos", json={}).json() == {"custom": "post"}
    assert client.get("/api/todos").json() == {"custom": "get"}
    for slug in ("mine", "other"):
        assert client.post("/api/books", json={"slug": slug}).status_code == 201
    assert client.get("/api/books/mine").json() == 2
    # DELETE /api/books/mine is the declared delete by slug, not the record route's by id.
    assert client.delete("/api/books/mine", headers=admin).status_code == 204
    assert [b["slug"] for b in client.get("/api/books").json()["items"]] == ["other"]


def test_each_route_keeps_its_own_error_shape_whichever_layer_refuses(make_client):
    """Two routes at one path with their own shapes; a status map alone stays problem+json,
    applies to the middleware's refusals too, and is applied once (422 -> 400 is not then
    taken on to 409)."""
    declaration = {
        "name": "shapes",
        "settings": {"max_body_bytes": 1024},
        "collections": {
            "notes": {
                "fields": {"text": {"type": "text", "required": True}},
                "rules": {"list": "public", "create": "public"},
            }
        },
        "routes": {
            "POST /notes": {
                "create": "notes",
                "errors": {"status": {422: 400, 400: 409, 413: 400}},
            },
            "GET /notes": {
                "list": "notes",
                "paging": {"style": "none"},
                "errors": {"body": {"message": "{detail}"}},
            },
        },
        "server": {"limits": {"max_query_length": 64}},
    }
    client = make_client(declaration)
    invalid = client.post("/notes", json={"text": 5})
    assert invalid.status_code == 400, invalid.text
    assert invalid.headers["content-type"] == "application/problem+json"
    assert invalid.json()["status"] == 400
    too_large = client.post("/notes", json={"text": "x" * 2000})
    assert too_large.status_code == 400, too_large.text
    assert too_large.headers["content-type"] == "application/problem+json"
    unknown = client.get("/notes", params={"nope": "1"})
    assert unknown.status_code == 400 and set(unknown.json()) == {"message"}
    too_long = client.get("/notes?" + "x" * 100)
    assert too_long.status_code == 414 and set(too_long.json()) == {"message"}


def test_a_custom_endpoint_taking_a_declared_route_under_another_name_is_refused(
    tmp_path, make_client
):
    declaration = copy.deepcopy(LIBRARY)
    declaration["hooks"] = "clash_hooks.py"
    declaration["routes"]["GET /v2/things/{id}"] = {"get": "books"}
    (tmp_path / "clash_hooks.py").write_text(
        "from backforge.hooks import Endpoints\n"
        "endpoints = Endpoints()\n\n"
        "@endpoints.get('/v2/things/{pk}')\n"
        "def thing(ctx):\n"
        "    return {}\n"
    )
    path = tmp_path / "clash.yaml"
    path.write_text(json.dumps(declaration))
    with pytest.raises(DeclarationError, match="a custom endpoint of the hooks module takes"):
        make_client(path)


def test_account_emails_are_found_whatever_their_case(make_client, admin):
    """Accounts store their email lower-cased; a route key, a filter and the store compare
    with it lower-cased too, so `/users/Ann@Example.org` is Ann."""
    client = make_client(
        {
            "name": "people",
            "collections": {
                "users": {
                    "auth": True,
                    "fields": {"name": {"type": "text"}},
                    "rules": {"list": "auth.id != null", "view": "auth.id != null"},
                },
                "notes": {"fields": {"email": {"type": "email"}}, "rules": {"list": "public"}},
            },
            "routes": {"GET /people/{email}": {"get": "users", "key": "email"}},
        }
    )
    signed = client.post(
        "/api/auth/users/signup", json={"email": "Ann@Example.org", "password": PASSWORD}
    )
    assert signed.status_code == 201, signed.text
    ann = {"Authorization": f"Bearer {signed.json()['access_token']}"}
    for spelled in ("ann@example.org", "Ann@Example.org", "ANN@EXAMPLE.ORG"):
        found = client.get(f"/people/{spelled}", headers=ann)
        assert found.status_code == 200, (spelled, found.text)
        assert found.json()["email"] == "ann@example.org"
    listed = client.get("/api/users", params={"filter": 'email = "ANN@example.org"'}, headers=ann)
    assert [u["email"] for u in listed.json()["items"]] == ["ann@example.org"]
    # Other email fields keep what was written, and compare as written.
    made = client.post("/api/notes", json={"email": "Bo@example.org"}, headers=admin)
    assert made.json()["email"] == "Bo@example.org"
    exact = client.get("/api/notes", params={"filter": 'email = "Bo@example.org"'})
    lowered = client.get("/api/notes", params={"filter": 'email = "bo@example.org"'})
    assert len(exact.json()["items"]) == 1 and lowered.json()["items"] == []


def test_a_declared_create_points_at_where_the_record_is_read(make_client, admin):
    """Location: the declared GET by the record's key when there is one, else its record
    route, else none (a record no route serves)."""
    client = make_client(
        {
            "name": "places",
            "collections": {
                "notes": {"fields": {"text": {"type": "text"}}, "rules": {"view": "public"}},
                "secrets": {"fields": {"text": {"type": "text"}}, "record_routes": False},
            },
            "routes": {
                "POST /things": {"create": "notes"},
                "POST /hidden": {"create": "secrets"},
            },
        }
    )
    made = client.post("/things", json={"text": "x"}, headers=admin)
    assert made.status_code == 201, made.text
    assert made.headers["location"] == f"/api/notes/{made.json()['id']}"
    assert client.get(made.headers["location"]).json()["text"] == "x"
    hidden = client.post("/hidden", json={"text": "y"}, headers=admin)
    assert hidden.status_code == 201 and "location" not in hidden.headers
