"""GraphQL subscriptions over a real WebSocket (graphql-transport-ws at /graphql, uvicorn on
127.0.0.1): each subscriber is sent only what its rules let it view, relations included, an
update moving a record out of view arrives as a delete, and a subscription resumes."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from realtime_support import served, sign_up, write

PROTOCOL = "graphql-transport-ws"
CHANGES = """subscription($after: String) { notes_changes(last_event_id: $after) {
    event position id record { title draft owner { name } } } }"""


@pytest.fixture
def base(db_url: str) -> Iterator[str]:
    with served(db_url) as url:
        yield url


def _connect(base: str, init: dict | None = None):
    from websockets.sync.client import connect

    socket = connect(base.replace("http://", "ws://") + "/graphql", subprotocols=[PROTOCOL])
    socket.send(json.dumps({"type": "connection_init", "payload": init or {}}))
    return socket


def _received(socket) -> dict:
    return json.loads(socket.recv(timeout=10))


def _subscribe(socket, key: str, query: str, **variables) -> None:
    payload = {"query": query, "variables": variables}
    socket.send(json.dumps({"type": "subscribe", "id": key, "payload": payload}))


def _change(socket, key: str = "1") -> dict:
    message = _received(socket)
    assert message["type"] == "next" and message["id"] == key, message
    assert "errors" not in message["payload"], message
    return message["payload"]["data"]["notes_changes"]


def test_each_subscriber_is_sent_what_its_rules_let_it_view(base):
    ann, bob = sign_up(base, "ann"), sign_up(base, "bob")
    with (
        _connect(base, {"Authorization": f"Bearer {ann}"}) as ann_socket,
        _connect(base, {"token": bob}) as bob_socket,
    ):
        for socket in (ann_socket, bob_socket):
            assert _received(socket) == {"type": "connection_ack"}
            _subscribe(socket, "1", CHANGES)
            assert _change(socket)["event"] == "ready"
        write(base, ann, "POST", "/api/notes", {"title": "mine", "draft": "secret"})
        shared = write(base, ann, "POST", "/api/notes", {"title": "ours", "shared": True})
        mine = _change(ann_socket)
        assert mine["event"] == "create"
        # ann reads her own draft and, through the relation, her own account
        assert mine["record"] == {"title": "mine", "draft": "secret", "owner": {"name": "ann"}}
        assert _change(ann_socket)["record"]["title"] == "ours"
        seen = _change(bob_socket)
        # bob: only the shared note, its draft hidden, its owner's account not his to view
        assert seen["id"] == shared["id"]
        assert seen["record"] == {"title": "ours", "draft": None, "owner": None}
        write(base, ann, "PATCH", f"/api/notes/{shared['id']}", {"shared": False})
        gone = _change(bob_socket)
        assert (gone["event"], gone["id"], gone["record"]) == ("delete", shared["id"], None)
        last = _change(ann_socket)["position"]
        bob_socket.send(json.dumps({"type": "complete", "id": "1"}))
        bob_socket.send(json.dumps({"type": "ping"}))
        assert _received(bob_socket) == {"type": "pong"}
    # resuming from the last position ann was sent: what she missed, nothing twice
    missed = write(base, ann, "POST", "/api/notes", {"title": "while away"})
    with _connect(base, {"token": ann}) as again:
        assert _received(again)["type"] == "connection_ack"
        _subscribe(again, "7", CHANGES, after=last)
        assert _change(again, "7")["event"] == "ready"
        change = _change(again, "7")
        assert (change["event"], change["id"]) == ("create", missed["id"])


def test_queries_and_mutations_run_over_the_socket_too(base):
    ann = sign_up(base, "ann")
    with _connect(base, {"token": ann}) as socket:
        assert _received(socket)["type"] == "connection_ack"
        create = 'mutation { create_notes(data: {title: "by socket"}) { id title } }'
        _subscribe(socket, "a", create)
        made = _received(socket)
        assert made["type"] == "next" and made["payload"]["data"]["create_notes"]["title"]
        assert _received(socket) == {"type": "complete", "id": "a"}
        _subscribe(socket, "b", "{ notes { total } }")
        assert _received(socket)["payload"] == {"data": {"notes": {"total": 1}}}
        assert _received(socket) == {"type": "complete", "id": "b"}
        # a subscription the rules refuse: an error for that operation, the socket goes on
        _subscribe(socket, "c", "subscription { audit_log_changes { event } }")
        refused = _received(socket)
        assert refused["type"] == "error" and refused["id"] == "c"
        assert refused["payload"][0]["extensions"]["status"] == 403
        _subscribe(socket, "d", "subscription { nothing_changes { event } }")
        assert _received(socket)["type"] == "error"


def test_protocol_mistakes_close_the_socket_with_its_codes(base):
    from websockets.exceptions import ConnectionClosed, InvalidStatus
    from websockets.sync.client import connect

    with pytest.raises(InvalidStatus):  # no graphql-transport-ws: not accepted
        connect(base.replace("http://", "ws://") + "/graphql").close()
    with _connect(base, {"token": "not-a-token"}) as socket:
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=5)
        assert closed.value.rcvd.code == 4403
    ann = sign_up(base, "ann")
    with _connect(base, {"token": ann}) as socket:
        assert _received(socket)["type"] == "connection_ack"
        _subscribe(socket, "1", CHANGES)
        _received(socket)
        _subscribe(socket, "1", CHANGES)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                socket.recv(timeout=5)
        assert closed.value.rcvd.code == 4409
    # a subscription is not for POST
    answer = httpx.post(f"{base}/graphql", json={"query": CHANGES})
    assert answer.status_code == 400 and "WebSocket" in answer.json()["errors"][0]["message"]


def test_operations_ended_and_reused_ids_leave_no_stream_behind(base):
    ann = sign_up(base, "ann")
    with _connect(base, {"token": ann}) as socket:
        assert _received(socket)["type"] == "connection_ack"
        for n in range(25):  # more than a caller may hold open at once
            _subscribe(socket, f"x{n % 3}", CHANGES)
            assert _change(socket, f"x{n % 3}")["event"] == "ready"
            socket.send(json.dumps({"type": "complete", "id": f"x{n % 3}"}))
            _subscribe(socket, f"x{n % 3}", CHANGES)
            assert _change(socket, f"x{n % 3}")["event"] == "ready"
            socket.send(json.dumps({"type": "complete", "id": f"x{n % 3}"}))
    # every stream of that socket has ended: the caller may open new ones
    with _connect(base, {"token": ann}) as again:
        assert _received(again)["type"] == "connection_ack"
        _subscribe(again, "1", CHANGES)
        assert _change(again)["event"] == "ready"


def test_a_revoked_key_runs_nothing_more_on_an_open_socket(base):
    ann = sign_up(base, "ann")
    made = httpx.post(
        f"{base}/api/auth/keys",
        json={"name": "socket", "scopes": ["*"]},
        headers={"Authorization": f"Bearer {ann}"},
    ).json()
    with _connect(base, {"token": made["key"]}) as socket:
        assert _received(socket)["type"] == "connection_ack"
        _subscribe(socket, "a", "{ notes { total } }")
        assert _received(socket)["payload"] == {"data": {"notes": {"total": 0}}}
        _received(socket)  # complete
        revoked = httpx.delete(
            f"{base}/api/auth/keys/{made['id']}", headers={"Authorization": f"Bearer {ann}"}
        )
        assert revoked.status_code == 204
        _subscribe(socket, "b", "{ notes { total } }")
        from websockets.exceptions import ConnectionClosed

        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=5)
        assert closed.value.rcvd.code == 4403
