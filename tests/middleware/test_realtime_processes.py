"""Realtime across processes: two `backforge serve` processes on one PostgreSQL and one Redis.
A write answered by process B reaches a subscriber of process A (over Server-Sent Events and over
a WebSocket), read there as that subscriber, and a client that reconnects to the other process
resumes from its last event id."""

from __future__ import annotations

import json
import signal
import time

import httpx
import pytest
from websockets.sync.client import connect

from realtime_support import DECLARATION, Listener, sign_up, write


@pytest.fixture(params=["redis", "postgres"])
def two_processes(request, tmp_path, make_server, postgres_url):
    """Two processes on one PostgreSQL; changes carried by Redis, or (without REDIS_URL) by
    PostgreSQL's LISTEN/NOTIFY and its log table."""
    declaration = tmp_path / "notes.yaml"
    declaration.write_text(json.dumps(DECLARATION), encoding="utf-8")  # JSON is YAML
    env = {
        "DATABASE_URL": postgres_url,
        "BACKFORGE_JWT_SECRET": "realtime-jwt-secret-" + "k" * 32,  # both processes trust it
    }
    if request.param == "redis":
        env["REDIS_URL"] = request.getfixturevalue("redis_url")
        env["BACKFORGE_REDIS_KEY_PREFIX"] = request.getfixturevalue("key_prefix")
    first = make_server(declaration, **env)
    second = make_server(declaration, **env)
    if request.param == "postgres":
        # The first stream opened anywhere creates the log; writes before it are not announced.
        first_stream = Listener(first.url, {"collection": "notes"}, None)
        first_stream.next("ready")
        first_stream.close()
    return first.url, second.url


@pytest.mark.postgres
def test_a_write_in_one_process_reaches_a_subscriber_of_the_other(two_processes):
    a, b = two_processes
    ann, bob = sign_up(a, "ann"), sign_up(b, "bob")
    ann_on_a = Listener(a, {"collection": "notes"}, ann)
    bob_on_a = Listener(a, {"collection": "notes"}, bob)
    try:
        ann_on_a.next("ready"), bob_on_a.next("ready")
        mine = write(b, ann, "POST", "/api/notes", {"title": "from b", "draft": "only mine"})
        shared = write(b, ann, "POST", "/api/notes", {"title": "for all", "shared": True})
        got = [ann_on_a.next("create")["json"]["record"] for _ in range(2)]
        assert [r["id"] for r in got] == [mine["id"], shared["id"]]
        assert got[0]["draft"] == "only mine"
        assert bob_on_a.next("create")["json"]["record"]["id"] == shared["id"]
        assert bob_on_a.nothing_more() == []
        # the same over a WebSocket to process A (backforge's protocol hands it to wsproto)
        with connect(f"ws{a[4:]}/api/realtime") as socket:
            socket.send(json.dumps({"collection": "notes", "token": bob}))
            assert json.loads(socket.recv(timeout=10))["event"] == "ready"
            again = write(b, ann, "POST", "/api/notes", {"title": "again", "shared": True})
            heard = json.loads(socket.recv(timeout=10))
            assert (heard["event"], heard["record"]["id"]) == ("create", again["id"])
    finally:
        ann_on_a.close()
        bob_on_a.close()


@pytest.mark.postgres
def test_resuming_on_the_other_process_loses_nothing(two_processes):
    a, b = two_processes
    ann = sign_up(a, "ann")
    stream = Listener(a, {"collection": "notes"}, ann)
    stream.next("ready")
    write(a, ann, "POST", "/api/notes", {"title": "seen"})
    last_id = stream.next("create")["id"]
    stream.close()
    missed = [write(a, ann, "POST", "/api/notes", {"title": f"missed {n}"}) for n in (1, 2)]
    again = Listener(b, {"collection": "notes"}, ann, last_id=last_id)
    try:
        again.next("ready")
        replayed = [again.next("create")["json"]["record"]["id"] for _ in missed]
        assert replayed == [note["id"] for note in missed]
    finally:
        again.close()
    assert httpx.get(f"{b}/healthz").status_code == 200


def test_sigterm_closes_open_streams_instead_of_waiting_for_them(tmp_path, make_server):
    """An event stream has no end: a graceful shutdown closes it at once (the client reconnects
    elsewhere) rather than holding the process for the whole shutdown timeout."""
    declaration = tmp_path / "notes.yaml"
    declaration.write_text(json.dumps(DECLARATION), encoding="utf-8")
    server = make_server(declaration, BACKFORGE_SHUTDOWN_TIMEOUT="120")
    ann = sign_up(server.url, "ann")
    stream = Listener(server.url, {"collection": "notes"}, ann)
    try:
        stream.next("ready")
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        assert stream.next("closed", timeout=60)["event"] == "closed"
        server.process.wait(60)  # far less than the 120 s a request in flight would be given
        assert time.monotonic() - started < 60
        assert "graceful shutdown exceeded" not in server.log.read_text()
    finally:
        stream.close()
