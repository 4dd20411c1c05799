"""Hooks in the write transaction, atomic batches and custom endpoints, on the shop example."""

from __future__ import annotations

import textwrap

import pytest

PASSWORD = "a long enough password"


@pytest.fixture
def shop_world(shop, admin):
    category = shop.post("/api/categories", json={"name": "Maps", "slug": "maps"}, headers=admin)
    product = shop.post(
        "/api/products",
        json={
            "name": "Atlas",
            "sku": "ATL-1",
            "price": "12.50",
            "stock": 3,
            "category": category.json()["id"],
        },
        headers=admin,
    ).json()
    signup = shop.post(
        "/api/auth/customers/signup",
        json={"email": "ann@example.com", "password": PASSWORD, "name": "Ann"},
    ).json()
    ann = {"Authorization": f"Bearer {signup['access_token']}"}
    order = shop.post("/api/orders", json={}, headers=ann).json()
    return shop, ann, product, order


def _stock(client, admin, product):
    return client.get(f"/api/products/{product['id']}", headers=admin).json()["stock"]


def test_an_item_beyond_the_stock_is_refused_and_nothing_is_written(shop_world, admin):
    client, ann, product, order = shop_world
    response = client.post(
        "/api/order_items",
        json={"order": order["id"], "product": product["id"], "quantity": 4},
        headers=ann,
    )
    assert response.status_code == 409, response.text
    assert response.json()["field"] == "quantity" and "only 3" in response.json()["detail"]
    assert _stock(client, admin, product) == 3
    assert client.get("/api/order_items", headers=ann).json()["items"] == []


def test_an_item_takes_stock_and_adds_to_the_total_in_one_transaction(shop_world, admin):
    client, ann, product, order = shop_world
    item = client.post(
        "/api/order_items",
        json={
            "order": order["id"],
            "product": product["id"],
            "quantity": 2,
        },
        headers=ann,
    )
    assert item.status_code == 201, item.text
    assert item.json()["unit_price"] == "12.50"
    assert _stock(client, admin, product) == 1
    assert client.get(f"/api/orders/{order['id']}", headers=ann).json()["total"] == "25.00"


def test_a_client_cannot_choose_the_unit_price(shop_world):
    client, ann, product, order = shop_world
    response = client.post(
        "/api/order_items",
        json={"order": order["id"], "product": product["id"], "quantity": 1, "unit_price": "0.01"},
        headers=ann,
    )
    assert response.status_code == 422


def test_batch_is_all_or_nothing_and_names_the_failing_operation(shop_world, admin):
    client, ann, product, order = shop_world
    operations = [
        {
            "op": "create",
            "collection": "order_items",
            "body": {"order": order["id"], "product": product["id"], "quantity": 1},
        },
        {"op": "update", "collection": "orders", "id": order["id"], "body": {"note": "gift"}},
        {
            "op": "create",
            "collection": "order_items",
            "body": {"order": order["id"], "product": product["id"], "quantity": 5},
        },
    ]
    failed = client.post("/api/batch", json={"operations": operations}, headers=ann)
    assert failed.status_code == 409 and failed.json()["index"] == 2
    assert _stock(client, admin, product) == 3
    assert client.get(f"/api/orders/{order['id']}", headers=ann).json()["note"] is None
    done = client.post("/api/batch", json={"operations": operations[:2]}, headers=ann)
    assert done.status_code == 200, done.text
    results = done.json()["results"]
    assert results[0]["quantity"] == 1 and results[1]["note"] == "gift"
    assert _stock(client, admin, product) == 2


def test_a_batch_names_the_write_the_database_refused(shop_world, admin):
    client, _ann, _product, _order = shop_world
    operations = [
        {"op": "create", "collection": "categories", "body": {"name": "Globes", "slug": "globes"}},
        {"op": "create", "collection": "categories", "body": {"name": "Maps", "slug": "maps-2"}},
    ]
    failed = client.post("/api/batch", json={"operations": operations}, headers=admin)
    assert failed.status_code == 409, failed.text
    assert failed.json()["index"] == 1 and failed.json()["field"] == "name"
    names = [c["name"] for c in client.get("/api/categories").json()["items"]]
    assert names == ["Maps"]  # the first create went with the second


def test_batch_operations_keep_the_callers_rules(shop_world, admin):
    client, ann, product, _ = shop_world
    response = client.post(
        "/api/batch",
        json={
            "operations": [
                {
                    "op": "update",
                    "collection": "products",
                    "id": product["id"],
                    "body": {"stock": 99},
                }
            ]
        },
        headers=ann,
    )
    assert response.status_code == 403 and response.json()["index"] == 0
    assert _stock(client, admin, product) == 3


def test_checkout_custom_endpoint(shop_world, admin):
    client, ann, product, _ = shop_world
    placed = client.post(
        "/api/shop/checkout",
        json={"items": [{"product": product["id"], "quantity": 2}], "note": "asap"},
        headers=ann,
    )
    assert placed.status_code == 201, placed.text
    assert placed.json()["total"] == "25.00" and placed.json()["items"] == 1
    assert _stock(client, admin, product) == 1
    too_many = client.post(
        "/api/shop/checkout",
        json={"items": [{"product": product["id"], "quantity": 5}]},
        headers=ann,
    )
    assert too_many.status_code == 409
    assert client.post("/api/shop/checkout", json={"items": []}).status_code == 401
    document = client.get("/api/openapi.json").json()
    operation = document["paths"]["/api/shop/checkout"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "Checkout"
    )
    assert "201" in operation["responses"]


def test_an_exception_in_a_hook_rolls_back_and_answers_a_clean_problem(
    make_client, admin, tmp_path
):
    (tmp_path / "notes_hooks.py").write_text(
        textwrap.dedent("""
        from backforge.hooks import Hooks
        hooks = Hooks()

        @hooks.after_create("notes")
        def explode(ctx):
            ctx.system.create("audit_log", {"text": "written before the failure"})
            raise RuntimeError("bug in a hook: secret detail")
    """)
    )
    (tmp_path / "notes.yaml").write_text(
        textwrap.dedent("""
        name: notes
        hooks: notes_hooks.py
        collections:
          notes: {fields: {text: {type: text}}}
          audit_log: {fields: {text: {type: text}}}
    """)
    )
    client = make_client(tmp_path / "notes.yaml")
    response = client.post("/api/notes", json={"text": "x"}, headers=admin)
    assert response.status_code == 500
    assert response.json()["type"] == "urn:backforge:problem:hook-failed"
    assert "secret detail" not in response.text and "Traceback" not in response.text
    assert client.get("/api/notes", headers=admin).json()["items"] == []
    assert client.get("/api/audit_log", headers=admin).json()["items"] == []


def test_a_required_field_a_before_create_hook_fills_is_checked_after_it(tmp_path, make_client):
    (tmp_path / "code_hooks.py").write_text(
        textwrap.dedent(
            """
            from backforge.hooks import Hooks

            hooks = Hooks()


            @hooks.before_create("tickets")
            def number(ctx):
                if ctx.values.get("title") != "no code":
                    ctx.values["code"] = "T-" + ctx.values["title"][:3].upper()
            """
        )
    )
    path = tmp_path / "tickets.yaml"
    path.write_text(
        textwrap.dedent(
            """
            name: tickets
            hooks: code_hooks.py
            collections:
              tickets:
                fields:
                  title: {type: text, required: true}
                  code: {type: text, required: true, readonly: true}
                rules: {create: public, view: public}
            """
        )
    )
    client = make_client(path)
    made = client.post("/api/tickets", json={"title": "printer"})
    assert made.status_code == 201, made.text
    assert made.json()["code"] == "T-PRI"
    unfilled = client.post("/api/tickets", json={"title": "no code"})
    assert unfilled.status_code == 422
    assert unfilled.json()["errors"] == [{"path": "/code", "message": "this field is required"}]
    # The client's own required fields are still required, and null is still refused.
    assert client.post("/api/tickets", json={}).status_code == 422
    assert client.post("/api/tickets", json={"title": None}).status_code == 422


def test_relations_a_hook_sets_are_checked_for_existence_and_never_named(
    tmp_path, make_client, admin
):
    """A before-hook is server code: it may point a record at one the caller cannot see, and
    when it points at none, the refusal names the field, not the id it copied."""
    (tmp_path / "copy_hooks.py").write_text(
        textwrap.dedent(
            """
            from backforge.hooks import Hooks

            hooks = Hooks()


            def _template(ctx):
                found = ctx.system.find("templates", code=ctx.values.get("title"))
                return found["folder"] if found else "nosuchfolder123"


            @hooks.before_create("tasks")
            def file_on_create(ctx):
                if ctx.values.get("folder") is None:
                    ctx.values["folder"] = _template(ctx)


            @hooks.before_update("tasks")
            def file_on_update(ctx):
                if "title" in ctx.values:
                    ctx.values["folder"] = _template(ctx)
            """
        )
    )
    path = tmp_path / "tasks.yaml"
    path.write_text(
        textwrap.dedent(
            """
            name: tasks
            hooks: copy_hooks.py
            collections:
              users:
                auth: {}
                fields: {name: {type: text}}
              folders:
                fields:
                  owner: {type: relation, to: users, default: auth.id}
                  name: {type: text}
                rules: {create: "auth.id != null", list: owner = auth.id, view: owner = auth.id}
              templates:
                fields:
                  code: {type: text, unique: true}
                  folder: {type: relation, to: folders, reference: any}
              tasks:
                fields:
                  title: {type: text}
                  folder: {type: relation, to: folders}
                rules:
                  create: "auth.id != null"
                  view: "auth.id != null"
                  update: "auth.id != null"
            """
        )
    )
    client = make_client(path)
    tokens = []
    for email in ("ann@example.com", "bob@example.com"):
        signup = client.post(
            "/api/auth/users/signup", json={"email": email, "password": PASSWORD}
        ).json()
        tokens.append({"Authorization": f"Bearer {signup['access_token']}"})
    ann, bob = tokens
    made = client.post("/api/folders", json={"name": "ann"}, headers=ann)
    assert made.status_code == 201, made.text
    secret = made.json()["id"]
    mine = client.post("/api/folders", json={"name": "bob's"}, headers=bob).json()["id"]
    client.post("/api/templates", json={"code": "filed", "folder": secret}, headers=admin)

    # Bob names Ann's folder himself: refused, naming only what he sent.
    sent = client.post("/api/tasks", json={"title": "x", "folder": secret}, headers=bob)
    assert sent.status_code == 422 and secret in sent.text
    # The hook files his task in Ann's folder: the server's choice, allowed.
    filed = client.post("/api/tasks", json={"title": "filed"}, headers=bob)
    assert filed.status_code == 201, filed.text
    # The hook names a folder that does not exist: refused without the id.
    lost = client.post("/api/tasks", json={"title": "lost"}, headers=bob)
    assert lost.status_code == 422
    assert "nosuchfolder123" not in lost.text and lost.json()["errors"][0]["path"] == "/folder"

    task = client.post("/api/tasks", json={"title": "x", "folder": mine}, headers=bob).json()
    # On update too: the values Bob sends are checked as his, what the hook sets as the server's.
    moved = client.patch(f"/api/tasks/{task['id']}", json={"title": "filed"}, headers=bob)
    assert moved.status_code == 200, moved.text
    assert moved.json()["folder"] == secret
    refused = client.patch(f"/api/tasks/{task['id']}", json={"title": "lost"}, headers=bob)
    assert refused.status_code == 422 and "nosuchfolder123" not in refused.text
    assert client.get(f"/api/tasks/{task['id']}", headers=bob).json()["folder"] == secret
