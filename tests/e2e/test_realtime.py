"""Realtime over real connections: `GET /api/realtime` as Server-Sent Events, served by uvicorn
on 127.0.0.1 (in-process broker) and by two `backforge serve` processes sharing PostgreSQL and
Redis (a write in one reaches a subscriber of the other)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backforge.store.caller import Caller
from realtime_support import Listener, served, served_app, sign_up, write


@pytest.fixture
def base(db_url: str) -> Iterator[str]:
    with served(db_url) as url:
        yield url


def test_each_subscriber_sees_what_its_rules_let_it_see(base):
    ann, bob = sign_up(base, "ann"), sign_up(base, "bob")
    ann_stream = Listener(base, {"collection": "notes"}, ann)
    bob_stream = Listener(base, {"collection": "notes"}, bob)
    try:
        assert ann_stream.next()["event"] == "ready" and bob_stream.next()["event"] == "ready"
        private = write(base, ann, "POST", "/api/notes", {"title": "mine", "draft": "secret"})
        shared = write(base, ann, "POST", "/api/notes", {"title": "ours", "shared": True})
        # ann is told of both, with her own draft; bob only of the shared one, draft hidden
        first, second = ann_stream.next("create"), ann_stream.next("create")
        assert [first["json"]["record"]["id"], second["json"]["record"]["id"]] == [
            private["id"],
            shared["id"],
        ]
        assert first["json"]["record"]["draft"] == "secret"
        seen = bob_stream.next("create")["json"]["record"]
        assert seen["id"] == shared["id"] and seen["title"] == "ours"
        assert seen.get("draft") is None
        assert bob_stream.nothing_more() == []
        # the shared note leaves bob's view: bob gets a delete (id only), ann an update
        write(base, ann, "PATCH", f"/api/notes/{shared['id']}", {"shared": False})
        gone = bob_stream.next()
        assert gone["event"] == "delete" and gone["json"] == {
            "action": "delete",
            "id": shared["id"],
        }
        assert ann_stream.next()["json"]["record"]["shared"] is False
        # deleting the private note: ann, who had it, is told; bob, who never had it, is not
        write(base, ann, "DELETE", f"/api/notes/{private['id']}")
        assert ann_stream.next()["json"] == {"action": "delete", "id": private["id"]}
        assert bob_stream.nothing_more() == []
    finally:
        ann_stream.close()
        bob_stream.close()


def test_a_filter_and_a_single_record_narrow_the_stream(base):
    ann = sign_up(base, "ann")
    kept = write(base, ann, "POST", "/api/notes", {"title": "watched"})
    by_title = Listener(base, {"collection": "notes", "filter": 'title ~ "urgent"'}, ann)
    by_id = Listener(base, {"collection": "notes", "id": kept["id"]}, ann)
    try:
        by_title.next("ready"), by_id.next("ready")
        write(base, ann, "POST", "/api/notes", {"title": "not this one"})
        urgent = write(base, ann, "POST", "/api/notes", {"title": "urgent: call"})
        write(base, ann, "PATCH", f"/api/notes/{kept['id']}", {"title": "watched, changed"})
        assert by_title.next("create")["json"]["record"]["id"] == urgent["id"]
        assert by_id.next("update")["json"]["record"]["title"] == "watched, changed"
        assert by_title.nothing_more(0.5) == [] and by_id.nothing_more(0.5) == []
    finally:
        by_title.close()
        by_id.close()


def test_reconnecting_with_the_last_event_id_loses_nothing(base):
    ann = sign_up(base, "ann")
    stream = Listener(base, {"collection": "notes"}, ann)
    first = write(base, ann, "POST", "/api/notes", {"title": "one"})
    last_id = stream.next("create")["id"]
    stream.close()
    missed = [write(base, ann, "POST", "/api/notes", {"title": f"while away {n}"}) for n in (1, 2)]
    again = Listener(base, {"collection": "notes"}, ann, last_id=last_id)
    try:
        assert again.next()["event"] == "ready"
        replayed = [again.next("create")["json"]["record"]["id"] for _ in missed]
        assert replayed == [note["id"] for note in missed]
        assert first["id"] not in replayed
    finally:
        again.close()
    gone = Listener(base, {"collection": "notes"}, ann, last_id="not-a-position")
    try:
        gone.next("ready")
        assert gone.next()["event"] == "reset"
    finally:
        gone.close()


@pytest.mark.parametrize(
    ("params", "token", "status"),
    [
        ({"collection": "nothing"}, "ann", 400),
        ({"collection": "notes", "filter": "title ="}, "ann", 400),
        ({"collection": "notes", "sort": "title"}, "ann", 400),
        ({"collection": "audit_log"}, "ann", 403),  # no rules: only admins may view it
        ({"collection": "notes"}, "not-a-token", 401),
    ],
)
def test_bad_subscriptions_get_a_problem(base, params, token, status):
    if token == "ann":
        token = sign_up(base, "ann")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = httpx.get(f"{base}/api/realtime", params=params, headers=headers, timeout=5)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_a_caller_may_hold_only_so_many_streams(sqlite_url, monkeypatch):
    monkeypatch.setattr("backforge.realtime.service.STREAMS_PER_CALLER", 2)
    with served(sqlite_url) as url:
        ann = sign_up(url, "ann")
        held = [Listener(url, {"collection": "notes"}, ann) for _ in range(2)]
        try:
            for stream in held:
                stream.next("ready")
            answer = httpx.get(
                f"{url}/api/realtime",
                params={"collection": "notes"},
                headers={"Authorization": f"Bearer {ann}"},
                timeout=5,
            )
            assert answer.status_code == 429, answer.text
        finally:
            for stream in held:
                stream.close()
        # a client that hangs up gives its place back
        deadline = time.monotonic() + 10
        while True:
            again = Listener(url, {"collection": "notes"}, ann)
            first = again.next()
            again.close()
            if first["event"] == "ready" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert first["event"] == "ready"


def test_a_stream_ends_when_its_access_token_expires(sqlite_url):
    with served_app(sqlite_url) as (url, app):
        ann = sign_up(url, "ann")
        ann_id = httpx.get(f"{url}/api/auth/me", headers={"Authorization": f"Bearer {ann}"})
        short, _ = app.auth.issuer.issue("users", ann_id.json()["id"], False, ttl=2)
        stream = Listener(url, {"collection": "notes"}, short)
        try:
            assert stream.next()["event"] == "ready"
            ended = stream.next(timeout=10)
            assert ended["event"] == "error" and "expired" in ended["json"]["reason"]
            assert stream.next()["event"] == "closed"
        finally:
            stream.close()


BLUEPRINTS = Path(__file__).resolve().parents[2] / "src" / "backforge" / "blueprints"


def test_chat_messages_reach_only_the_conversations_participants(sqlite_url):
    """The chat blueprint's rules go through relations (`any(conversation.participants, ...)`):
    a participant is sent each new message of the conversation, an outsider nothing."""
    with served_app(sqlite_url, BLUEPRINTS / "chat" / "backforge.yaml") as (url, _):
        ann, bob, eve = (sign_up(url, name) for name in ("ann", "bob", "eve"))
        bob_id = httpx.get(f"{url}/api/auth/me", headers={"Authorization": f"Bearer {bob}"})
        talk = write(url, ann, "POST", "/api/conversations", {"title": "lunch"})
        write(
            url,
            ann,
            "POST",
            "/api/participants",
            {"conversation": talk["id"], "user": bob_id.json()["id"]},
        )
        filtered = {"collection": "messages", "filter": f'conversation = "{talk["id"]}"'}
        bob_stream, eve_stream = (
            Listener(url, filtered, bob),
            Listener(url, {"collection": "messages"}, eve),
        )
        try:
            bob_stream.next("ready"), eve_stream.next("ready")
            said = write(
                url, ann, "POST", "/api/messages", {"conversation": talk["id"], "body": "noon?"}
            )
            heard = bob_stream.next("create")["json"]["record"]
            assert heard["id"] == said["id"] and heard["body"] == "noon?"
            assert eve_stream.nothing_more() == []
        finally:
            bob_stream.close()
            eve_stream.close()


def _socket(url: str, subscription: dict, headers: dict | None = None):
    from websockets.sync.client import connect

    socket = connect(url.replace("http://", "ws://") + "/api/realtime", additional_headers=headers)
    socket.send(json.dumps(subscription))
    return socket


def _received(socket) -> dict:
    return json.loads(socket.recv(timeout=10))


def test_the_same_stream_over_websocket(base):
    ann, bob = sign_up(base, "ann"), sign_up(base, "bob")
    by_message = _socket(base, {"collection": "notes", "token": ann})
    by_header = _socket(base, {"collection": "notes"}, {"Authorization": f"Bearer {bob}"})
    with by_message, by_header:
        assert _received(by_message)["event"] == "ready" == _received(by_header)["event"]
        write(base, ann, "POST", "/api/notes", {"title": "mine", "draft": "secret"})
        shared = write(base, ann, "POST", "/api/notes", {"title": "ours", "shared": True})
        assert _received(by_message)["record"]["draft"] == "secret"
        assert _received(by_message)["record"]["id"] == shared["id"]
        seen = _received(by_header)
        assert seen["event"] == "create" and seen["record"]["id"] == shared["id"]
        assert seen["record"].get("draft") is None
        write(base, ann, "PATCH", f"/api/notes/{shared['id']}", {"shared": False})
        gone = _received(by_header)
        assert (gone["event"], gone["id"]) == ("delete", shared["id"])
        assert int(gone["position"]) > int(seen["position"])
        last = _received(by_message)["position"]
    # resuming over a new socket from the last position sent
    missed = write(base, ann, "POST", "/api/notes", {"title": "while away"})
    again = _socket(base, {"collection": "notes", "token": ann, "last_event_id": last})
    with again:
        assert _received(again)["event"] == "ready"
        assert _received(again)["record"]["id"] == missed["id"]


@pytest.mark.parametrize(
    "subscription",
    [
        {"collection": "nothing", "token": "x"},
        {"collection": "notes", "token": "not-a-token"},
        {"collection": "audit_log"},  # anonymous: no rules, admins only
    ],
)
def test_a_bad_websocket_subscription_is_told_and_closed(base, subscription):
    from websockets.exceptions import ConnectionClosed

    with _socket(base, subscription) as socket:
        refused = _received(socket)
        assert refused["event"] == "error" and refused["status"] in (400, 401, 403)
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=5)
    assert closed.value.rcvd.code == 1008


def test_a_websocket_ignores_cookies(base):
    """A page of any site may open a WebSocket and the browser sends the cookies along: they
    never authenticate it (the token must come in a header or the first message)."""
    ann = sign_up(base, "ann")
    mine = write(base, ann, "POST", "/api/notes", {"title": "mine"})
    cookie = {"Cookie": f"notes_token={ann}"}
    assert httpx.get(f"{base}/api/notes/{mine['id']}", headers=cookie).status_code == 200
    with _socket(base, {"collection": "notes", "id": mine["id"]}, cookie) as socket:
        assert _received(socket)["event"] == "ready"  # subscribed, but as nobody
        write(base, ann, "PATCH", f"/api/notes/{mine['id']}", {"title": "changed"})
        with pytest.raises(TimeoutError):
            socket.recv(timeout=1.5)


def test_a_subscriber_that_stops_reading_is_dropped_and_writers_go_on(sqlite_url):
    """A client that never reads (a 4 KB receive window): once the sockets' buffers are full the
    stream can send nothing more, its queue fills, and it is dropped — while every write
    completes, none waiting for it. When it reads again, the last event says why it ends."""
    with served_app(sqlite_url) as (url, app):
        ann = sign_up(url, "ann")
        me = httpx.get(f"{url}/api/auth/me", headers={"Authorization": f"Bearer {ann}"})
        writer = Caller(id=me.json()["id"], collection="users", method="token")
        port = int(url.rsplit(":", 1)[1])
        with socket.socket() as stalled:
            stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            stalled.connect(("127.0.0.1", port))
            stalled.sendall(
                b"GET /api/realtime?collection=notes HTTP/1.1\r\nHost: t\r\n"
                + f"Authorization: Bearer {ann}\r\n\r\n".encode()
            )
            deadline = time.monotonic() + 10
            while app.realtime.hub.count == 0:
                assert time.monotonic() < deadline, "the stream did not open"
                time.sleep(0.05)
            [subscription] = app.realtime.hub.subscriptions("notes")
            written = 0
            while not subscription.dropped and written < 100_000:
                app.store.create("notes", writer, {"title": "x" * 200, "shared": True})
                written += 1
            assert subscription.dropped and written < 100_000
            stalled.settimeout(10)
            received = b""
            while b"fell too far behind" not in received:
                chunk = stalled.recv(1 << 20)
                assert chunk, "the stream ended without saying why"
                received += chunk


def test_a_stream_asked_for_while_redis_is_unreachable_gets_a_503(sqlite_url, monkeypatch):
    """The broker between processes is down (nothing listens on port 9): a clear 503 problem
    with Retry-After, not a 500 — and the app's other routes keep answering."""
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:9/0")
    with served_app(sqlite_url) as (url, _):
        ann = sign_up(url, "ann")
        answer = httpx.get(
            f"{url}/api/realtime",
            params={"collection": "notes"},
            headers={"Authorization": f"Bearer {ann}"},
            timeout=30,
        )
        assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert write(url, ann, "POST", "/api/notes", {"title": "still written"})["id"]


@pytest.mark.postgres
def test_a_change_made_while_postgresql_listening_was_cut_still_arrives(postgres_url):
    """Without Redis, PostgreSQL carries the changes (LISTEN/NOTIFY): when the listening
    connection is cut, the changes committed before it is back are replayed from the log."""
    from sqlalchemy import text

    from backforge.database import create_database_engine

    with served(postgres_url) as base:
        ann = sign_up(base, "ann")
        stream = Listener(base, {"collection": "notes"}, ann)
        admin = create_database_engine(postgres_url)
        try:
            stream.next("ready")
            with admin.connect() as connection:
                cut = connection.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE query LIKE 'LISTEN bf_realtime_%' AND pid <> pg_backend_pid() "
                        "AND application_name = current_setting('application_name')"
                    )
                ).scalar()
            assert cut == 1
            during = write(base, ann, "POST", "/api/notes", {"title": "while cut"})
            assert stream.next("create")["json"]["record"]["id"] == during["id"]
            after = write(base, ann, "POST", "/api/notes", {"title": "after"})
            assert stream.next("create")["json"]["record"]["id"] == after["id"]
            assert stream.nothing_more() == []  # nothing twice
        finally:
            stream.close()
            admin.dispose()
