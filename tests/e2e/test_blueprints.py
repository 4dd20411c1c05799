"""Every blueprint (`backforge init --blueprint NAME`): written by the command, checked with no
warning, served by a real `backforge serve --dev`, audited with no finding, fuzzed by schemathesis
with no failure; and the rules each one exists for, called as two users over HTTP."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from backforge.audit.auth import parse_user
from backforge.audit.context import AuditOptions
from backforge.audit.findings import Severity
from backforge.audit.runner import run_audit
from backforge.blueprints import blueprint_names
from backforge.cli import app
from e2e.conftest import ADMIN, ADMIN_TOKEN, Server, free_port

CONFIG = Path(__file__).with_name("schemathesis.toml")
PASSWORD = "a long pass phrase 42"
# The auth collection of each blueprint and the fields a sign-up needs besides email/password.
ACCOUNTS = {
    "blog": ("accounts", {"display_name": "Ann"}),
    "booking": ("people", {"name": "Ann"}),
    "chat": ("users", {"name": "Ann"}),
    "crm": ("reps", {"name": "Ann"}),
    "shop": ("customers", {"name": "Ann"}),
    "team": ("users", {"name": "Ann"}),
}


def test_there_are_six_blueprints_and_each_has_its_accounts_here():
    assert blueprint_names() == sorted(ACCOUNTS)


@pytest.fixture(scope="module", params=sorted(ACCOUNTS))
def served(request, tmp_path_factory) -> Iterator[tuple[str, Server]]:
    name = request.param
    folder = tmp_path_factory.mktemp(name)
    written = CliRunner().invoke(app, ["init", str(folder), "--blueprint", name])
    assert written.exit_code == 0, written.output
    checked = CliRunner().invoke(app, ["check", str(folder / "backforge.yaml")])
    assert checked.exit_code == 0 and "ok — 0 warning(s)" in checked.output, checked.output
    environment = {**os.environ, "BACKFORGE_ADMIN_TOKEN": ADMIN_TOKEN}
    environment.pop("DATABASE_URL", None)  # a SQLite file beside the declaration
    # The fuzzer sends thousands of requests from one address: the limits are tested elsewhere.
    environment["BACKFORGE_RATE_LIMITS__AUTH"] = "100000/minute"
    environment["BACKFORGE_RATE_LIMITS__DEFAULT"] = "100000/minute"
    server = Server(folder / "backforge.yaml", environment, free_port()).start("--dev")
    try:
        yield name, server
    finally:
        server.stop()


def sign_up(server: Server, blueprint: str, email: str) -> dict[str, str]:
    collection, fields = ACCOUNTS[blueprint]
    body = {**fields, "email": email, "password": PASSWORD}
    answer = httpx.post(f"{server.url}/api/auth/{collection}/signup", json=body, timeout=10)
    assert answer.status_code == 201, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def test_the_audit_finds_nothing(served):
    blueprint, server = served
    users = [parse_user(f"admin=bearer:{ADMIN_TOKEN}")]
    for person in ("ann", "bob"):
        token = sign_up(server, blueprint, f"{person}-audit@example.org")["Authorization"]
        users.append(parse_user(f"{person}={token.replace('Bearer ', 'bearer:')}"))
    report = run_audit(
        server.url,
        users=users,
        # who is who: object-level checks compare the two ordinary users
        roles={"users": {"admin": "admin", "ann": "user", "bob": "user"}},
        declaration=str(server.declaration),
        max_time=150,
        options=AuditOptions(fuzz_examples=0),  # schemathesis runs below
    )
    found = [(f.id, f.operation, f.detail) for f in report.findings if f.severity > Severity.INFO]
    assert found == []
    assert not any("budget ran out" in note for note in report.notes)


def test_schemathesis_finds_nothing(served):
    blueprint, server = served
    token = sign_up(server, blueprint, "fuzz@example.org")["Authorization"]
    for headers in (
        ["-H", f"Authorization: {token}"],
        ["-H", f"Authorization: Bearer {ADMIN_TOKEN}"],
    ):
        command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG)]
        command += ["--no-color", "run", server.url + "/api/openapi.json", "--checks", "all"]
        command += ["--max-examples", "10", "--seed", "20261207", "--workers", "1", *headers]
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-6000:]


def test_what_the_blueprint_is_for(served):
    """The rule each blueprint exists for, as two users and anonymous."""
    blueprint, server = served
    ann = sign_up(server, blueprint, "ann@example.org")
    bob = sign_up(server, blueprint, "bob@example.org")
    with httpx.Client(base_url=server.url + "/api", timeout=10) as http:
        SCENARIOS[blueprint](http, ann, bob)


def _created(answer: httpx.Response) -> dict:
    assert answer.status_code == 201, answer.text
    return answer.json()


def _blog(http: httpx.Client, ann, bob) -> None:
    draft = _created(http.post("/posts", json={"title": "Hello there"}, headers=ann))
    assert draft["slug"] == "hello-there" and draft["status"] == "draft"
    assert http.get(f"/posts/{draft['id']}", headers=bob).status_code == 404
    assert http.get(f"/posts/{draft['id']}").status_code == 404
    comment = {"post": draft["id"], "body": "first"}
    assert http.post("/comments", json=comment, headers=bob).status_code in (403, 422)
    assert (
        http.patch(f"/posts/{draft['id']}", json={"status": "published"}, headers=bob).status_code
        == 404
    )
    published = http.patch(f"/posts/{draft['id']}", json={"status": "published"}, headers=ann)
    assert published.status_code == 200, published.text
    assert http.get(f"/posts/{draft['id']}").status_code == 200
    said = _created(http.post("/comments", json=comment, headers=bob))
    assert said["approved"] is False
    assert http.get(f"/comments/{said['id']}").status_code == 404  # not approved yet
    approve = http.patch(f"/comments/{said['id']}", json={"approved": True}, headers=bob)
    assert approve.status_code in (403, 404)
    approved = http.patch(f"/comments/{said['id']}", json={"approved": True}, headers=ADMIN)
    assert approved.status_code == 200
    assert http.get(f"/comments/{said['id']}").status_code == 200


def _shop(http: httpx.Client, ann, bob) -> None:
    product = _created(
        http.post(
            "/products",
            json={"name": "Mug", "sku": "MUG-1", "price": "4.50", "stock": 1},
            headers=ADMIN,
        )
    )
    order = _created(http.post("/orders", json={}, headers=ann))
    line = {"order": order["id"], "product": product["id"], "quantity": 1}
    _created(http.post("/order_items", json=line, headers=ann))
    assert http.get(f"/orders/{order['id']}", headers=ann).json()["total"] == "4.50"
    assert http.get(f"/orders/{order['id']}", headers=bob).status_code == 404
    other = _created(http.post("/orders", json={}, headers=bob))
    sold_out = http.post("/order_items", json={**line, "order": other["id"]}, headers=bob)
    assert sold_out.status_code == 409  # the last one went to ann


def _team(http: httpx.Client, ann, bob) -> None:
    team = _created(http.post("/teams", json={"name": "Crew"}, headers=ann))
    project = _created(
        http.post("/projects", json={"team": team["id"], "name": "Launch"}, headers=ann)
    )
    task = _created(
        http.post("/tasks", json={"project": project["id"], "title": "Plan"}, headers=ann)
    )
    # bob is no member: the team's records do not exist for him, and he cannot join himself.
    assert http.get(f"/teams/{team['id']}", headers=bob).status_code == 404
    assert http.get(f"/tasks/{task['id']}", headers=bob).status_code == 404
    assert http.get("/projects", headers=bob).json()["items"] == []
    bob_id = http.get("/auth/me", headers=bob).json()["id"]
    join = http.post("/memberships", json={"team": team["id"], "user": bob_id}, headers=bob)
    assert join.status_code in (403, 422)
    _created(http.post("/memberships", json={"team": team["id"], "user": bob_id}, headers=ann))
    assert http.get(f"/tasks/{task['id']}", headers=bob).status_code == 200
    members = http.get("/memberships", params={"filter": f'team = "{team["id"]}"'}, headers=bob)
    assert len(members.json()["items"]) == 2  # he sees his teammates
    # a member is not an admin of the team
    assert (
        http.post("/projects", json={"team": team["id"], "name": "x"}, headers=bob).status_code
        == 403
    )
    assigned = http.patch(f"/tasks/{task['id']}", json={"assignee": bob_id}, headers=ann)
    assert assigned.status_code == 200, assigned.text  # a teammate, named by id
    mine = http.get("/memberships", params={"filter": f'user = "{bob_id}"'}, headers=bob)
    [membership] = mine.json()["items"]
    promote = http.post(
        "/memberships", json={"team": team["id"], "user": bob_id, "role": "owner"}, headers=ann
    )
    assert promote.status_code in (403, 409, 422)
    ann_id = http.get("/auth/me", headers=ann).json()["id"]
    owner = http.get("/memberships", params={"filter": f'user = "{ann_id}"'}, headers=ann)
    assert (
        http.delete(f"/memberships/{owner.json()['items'][0]['id']}", headers=bob).status_code
        == 403
    )
    assert http.delete(f"/memberships/{membership['id']}", headers=bob).status_code == 204  # leaves
    assert http.get(f"/teams/{team['id']}", headers=bob).status_code == 404


def _chat(http: httpx.Client, ann, bob) -> None:
    talk = _created(http.post("/conversations", json={"title": "lunch"}, headers=ann))
    _created(http.post("/messages", json={"conversation": talk["id"], "body": "hi"}, headers=ann))
    assert http.get("/messages", headers=bob).json()["items"] == []
    intrude = http.post(
        "/messages", json={"conversation": talk["id"], "body": "me too"}, headers=bob
    )
    assert intrude.status_code in (403, 422)
    bob_id = http.get("/auth/me", headers=bob).json()["id"]
    directory = http.get("/users", params={"filter": f'id = "{bob_id}"'}, headers=ann).json()
    [found] = directory["items"]
    assert found["id"] == bob_id and found.get("email") is None  # names yes, addresses no
    invite = {"conversation": talk["id"], "user": bob_id}
    assert http.post("/participants", json=invite, headers=bob).status_code in (403, 422)
    _created(http.post("/participants", json=invite, headers=ann))
    assert [m["body"] for m in http.get("/messages", headers=bob).json()["items"]] == ["hi"]
    reply = _created(
        http.post("/messages", json={"conversation": talk["id"], "body": "yes"}, headers=bob)
    )
    assert reply["sender"] == bob_id
    forged = {"conversation": talk["id"], "body": "as ann", "sender": "x" * 15}
    assert http.post("/messages", json=forged, headers=bob).status_code in (403, 422)


def _booking(http: httpx.Client, ann, bob) -> None:
    room = _created(http.post("/resources", json={"name": "Room 1"}, headers=ADMIN))
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).replace(microsecond=0)
    past = soon - dt.timedelta(days=2)
    slot = _created(
        http.post(
            "/slots", json={"resource": room["id"], "starts": soon.isoformat()}, headers=ADMIN
        )
    )
    gone = _created(
        http.post(
            "/slots", json={"resource": room["id"], "starts": past.isoformat()}, headers=ADMIN
        )
    )
    free = {s["id"] for s in http.get("/slots", headers=bob).json()["items"]}
    assert slot["id"] in free
    booked = _created(http.post("/bookings", json={"slot": slot["id"]}, headers=ann))
    assert slot["id"] not in {s["id"] for s in http.get("/slots", headers=bob).json()["items"]}
    assert http.post("/bookings", json={"slot": slot["id"]}, headers=bob).status_code in (409, 422)
    assert http.post("/bookings", json={"slot": gone["id"]}, headers=bob).status_code == 409
    assert http.get(f"/bookings/{booked['id']}", headers=bob).status_code == 404
    moved = http.patch(f"/bookings/{booked['id']}", json={"slot": gone["id"]}, headers=ann)
    assert moved.status_code == 409
    later = _created(
        http.post(
            "/slots",
            json={"resource": room["id"], "starts": (soon + dt.timedelta(hours=2)).isoformat()},
            headers=ADMIN,
        )
    )
    moved = http.patch(f"/bookings/{booked['id']}", json={"slot": later["id"]}, headers=ann)
    assert moved.status_code == 200, moved.text
    free = {s["id"] for s in http.get("/slots", headers=bob).json()["items"]}
    assert slot["id"] in free and later["id"] not in free
    assert http.delete(f"/bookings/{booked['id']}", headers=ann).status_code == 204
    assert later["id"] in {s["id"] for s in http.get("/slots", headers=bob).json()["items"]}
    staff_only = {"resource": room["id"], "starts": soon.isoformat()}
    assert http.post("/slots", json=staff_only, headers=ann).status_code == 403
    # a resource taken out of service takes its slots out of the customers' lists
    closed = http.patch(f"/resources/{room['id']}", json={"active": False}, headers=ADMIN)
    assert closed.status_code == 200
    listed = http.get("/slots", params={"filter": f'resource = "{room["id"]}"'}, headers=bob)
    assert listed.status_code == 200 and listed.json()["items"] == []
    assert http.post("/bookings", json={"slot": later["id"]}, headers=bob).status_code == 422


def _crm(http: httpx.Client, ann, bob) -> None:
    company = _created(http.post("/companies", json={"name": "Acme"}, headers=ann))
    deal = _created(
        http.post("/deals", json={"company": company["id"], "title": "Big one"}, headers=ann)
    )
    assert deal["stage"] == "lead"
    assert http.get("/companies", headers=bob).json()["items"][0]["name"] == "Acme"  # shared
    assert http.get(f"/deals/{deal['id']}", headers=bob).status_code == 404
    note = {"deal": deal["id"], "summary": "called"}
    assert http.post("/activities", json=note, headers=bob).status_code in (403, 422)
    _created(http.post("/activities", json=note, headers=ann))
    bob_id = http.get("/auth/me", headers=bob).json()["id"]
    handover = http.patch(f"/deals/{deal['id']}", json={"owner": bob_id}, headers=ann)
    assert handover.status_code == 403  # only managers reassign
    assert http.delete(f"/deals/{deal['id']}", headers=ann).status_code == 403
    assert http.get("/deals", headers=ADMIN).json()["items"][0]["id"] == deal["id"]


SCENARIOS = {
    "blog": _blog,
    "booking": _booking,
    "chat": _chat,
    "crm": _crm,
    "shop": _shop,
    "team": _team,
}
