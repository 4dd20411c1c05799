"""The HTTP protocol of `backforge serve` (`server_protocol.HttpProtocol`) under uvicorn, over
real sockets: every kind of answer arrives whole, in order, framed right, and a broken request
or a broken app gets a clear answer without taking the connection's other requests with it."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time

import h11
import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from uvicorn.server import ServerState

from backforge.server_protocol import HttpProtocol

DISCONNECTS: list[str] = []


async def _small(_request: Request) -> Response:
    return Response(b'{"ok":true}', media_type="application/json")


async def _empty(_request: Request) -> Response:
    return Response(status_code=204)


async def _slow(request: Request) -> Response:
    await asyncio.sleep(float(request.query_params.get("seconds", "0.2")))
    return Response(b"slow", media_type="text/plain")


async def _stream(_request: Request) -> StreamingResponse:
    async def chunks():
        for part in (b"one,", b"two,", b"three"):
            await asyncio.sleep(0.01)
            yield part

    return StreamingResponse(chunks(), media_type="text/plain")


async def _echo(request: Request) -> Response:
    try:
        body = await request.body()
    except ClientDisconnect:
        DISCONNECTS.append(request.url.path)
        raise
    return Response(body, media_type="application/octet-stream")


async def _injected(request: Request) -> Response:
    value = {"crlf": "fine\r\nset-cookie: stolen=1", "lf": "fine\nset-cookie: stolen=1"}.get(
        request.query_params["kind"], "fine\x01"
    )
    return Response(b"x", headers={"x-note": value})


async def _fails(_request: Request) -> Response:
    raise RuntimeError("a bug in the app")


async def _early(_request: Request) -> Response:
    """Answers without reading the request body."""
    return Response(b"early", media_type="text/plain")


async def _header_names(request: Request) -> Response:
    await request.body()
    names = sorted({name.decode() for name, _ in request.scope["headers"]})
    return Response(",".join(names).encode(), media_type="text/plain")


class _StartThenRead:
    """Sends its response head, then reads the body it echoes."""

    async def __call__(self, scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.body", "body": body})


class _TwoReceivers:
    """Reads its body with two receive() calls at once."""

    async def __call__(self, scope, receive, send) -> None:
        first, second = await asyncio.gather(receive(), receive())
        parts = sorted([first["body"], second["body"]])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"|".join(parts)})


class _AnswerThenRead:
    """Answers, then reads the request body (as a background task might)."""

    async def __call__(self, scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"answered"})
        await asyncio.sleep(0.3)
        await receive()


class _BrokenAfterStart:
    """Fails after its response head and before any of its body."""

    async def __call__(self, scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("a bug after the head")


class _BadContentLength:
    async def __call__(self, scope, receive, send) -> None:
        headers = [(b"content-length", b" 3")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"abc"})


async def _echo_socket(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("echo: " + await websocket.receive_text())
    await websocket.close()


def _app() -> Starlette:
    return Starlette(
        routes=[
            WebSocketRoute("/socket", _echo_socket),
            Route("/small", _small),
            Route("/empty", _empty),
            Route("/slow", _slow),
            Route("/stream", _stream),
            Route("/echo", _echo, methods=["POST"]),
            Route("/injected", _injected),
            Route("/fails", _fails),
            Route("/early", _early, methods=["POST"]),
            Route("/header-names", _header_names, methods=["POST"]),
            Route("/start-then-read", _StartThenRead(), methods=["POST"]),
            Route("/two-receivers", _TwoReceivers(), methods=["POST"]),
            Route("/answer-then-read", _AnswerThenRead(), methods=["POST"]),
            Route("/broken-after-start", _BrokenAfterStart()),
            Route("/bad-content-length", _BadContentLength()),
        ]
    )


@pytest.fixture(scope="module")
def server():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        _app(),
        host="127.0.0.1",
        port=port,
        http=HttpProtocol,
        log_level="critical",
        timeout_keep_alive=1,
        ws="wsproto",  # as `backforge serve` runs it
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield port
    server.should_exit = True
    thread.join(20)


@pytest.fixture
def server_url(server):
    return f"http://127.0.0.1:{server}"


def _connect(port: int) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", port), timeout=10)
    return connection


def _responses(connection: socket.socket, count: int) -> list[tuple[h11.Response, bytes]]:
    """Read `count` whole responses (to GET requests already sent) with h11, which refuses any
    framing error."""
    client = h11.Connection(h11.CLIENT)
    found: list[tuple[h11.Response, bytes]] = []
    head = None
    body = b""
    # h11 reads a response only after "sending" its request: those bytes went out already.
    client.send(h11.Request(method="GET", target="/", headers=[("Host", "t")]))
    client.send(h11.EndOfMessage())
    while len(found) < count:
        event = client.next_event()
        if event is h11.NEED_DATA:
            client.receive_data(connection.recv(65536))
        elif isinstance(event, h11.Response):
            head, body = event, b""
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            found.append((head, body))
            if client.our_state is h11.MUST_CLOSE or client.their_state is h11.MUST_CLOSE:
                break
            client.start_next_cycle()
            client.send(h11.Request(method="GET", target="/", headers=[("Host", "t")]))
            client.send(h11.EndOfMessage())
        elif isinstance(event, h11.ConnectionClosed):
            break
    return found


def _closed_by_server(connection: socket.socket) -> bool:
    try:
        return connection.recv(1) == b""
    except ConnectionResetError:
        return True


def _read_until_closed(connection: socket.socket) -> bytes:
    received = b""
    try:
        while chunk := connection.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


def _trickle(connection: socket.socket, data: bytes) -> None:
    """Send `data` two bytes every 0.4 s: longer in all than the 1 s keep-alive timeout."""
    for start in range(0, len(data), 2):
        time.sleep(0.4)
        connection.sendall(data[start : start + 2])


def test_every_kind_of_answer_arrives_whole_on_one_kept_alive_connection(server_url):
    big = bytes(range(256)) * 4096  # 1 MiB: more than one socket buffer each way
    with httpx.Client(base_url=server_url) as client:
        for _ in range(3):
            small = client.get("/small")
            assert small.status_code == 200 and small.json() == {"ok": True}
            assert "date" in small.headers
            head = client.head("/small")
            assert head.status_code == 200 and head.content == b""
            assert head.headers["content-length"] == str(len(b'{"ok":true}'))
            empty = client.get("/empty")
            assert empty.status_code == 204 and empty.content == b""
            stream = client.get("/stream")
            assert stream.status_code == 200 and stream.text == "one,two,three"
            assert stream.headers["transfer-encoding"] == "chunked"
            echoed = client.post("/echo", content=big)
            assert echoed.status_code == 200 and echoed.content == big
            # A body sent in chunks (no Content-Length) arrives whole too.
            chunked = client.post("/echo", content=iter([b"a" * 70_000, b"b" * 5, b"c"]))
            assert chunked.content == b"a" * 70_000 + b"bbbbbc"


def test_pipelined_requests_are_answered_in_order(server):
    with _connect(server) as connection:
        connection.sendall(
            b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
            b"GET /small HTTP/1.1\r\nHost: t\r\n\r\n"
        )
        answers = _responses(connection, 3)
    assert [(head.status_code, body) for head, body in answers] == [
        (200, b"slow"),
        (200, b"hello"),
        (200, b'{"ok":true}'),
    ]


def test_a_client_that_expects_100_continue_gets_it_before_sending_the_body(server):
    with _connect(server) as connection:
        connection.sendall(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
        )
        assert connection.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        connection.sendall(b"ping")
        [(head, body)] = _responses(connection, 1)
    assert head.status_code == 200 and body == b"ping"


def test_http_1_0_gets_its_answer_and_the_connection_closes(server):
    with _connect(server) as connection:
        connection.sendall(b"GET /stream HTTP/1.0\r\nHost: t\r\n\r\n")
        received = _read_until_closed(connection)
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"connection: close" in head and b"transfer-encoding" not in head
    assert body == b"one,two,three"  # delimited by the close, as HTTP/1.0 reads it


def test_a_malformed_request_is_answered_400_and_the_connection_closed(server):
    with _connect(server) as connection:
        connection.sendall(b"GET /small HTTP/1.1\r\nHost t\r\nBroken\x00: yes\r\n\r\n")
        [(head, body)] = _responses(connection, 1)
        assert head.status_code == 400 and b"Invalid HTTP request" in body
        assert _closed_by_server(connection)


@pytest.mark.parametrize("kind", ["crlf", "lf", "control"])
def test_a_header_value_holding_a_line_break_never_reaches_the_client(server_url, kind):
    with httpx.Client(base_url=server_url) as client:
        answer = client.get("/injected", params={"kind": kind})
        assert answer.status_code == 500
        assert "set-cookie" not in answer.headers and "x-note" not in answer.headers
        assert client.get("/small").status_code == 200  # a new connection serves on


def test_an_app_error_answers_500_and_closes_only_that_connection(server, server_url):
    with _connect(server) as connection:
        connection.sendall(b"GET /fails HTTP/1.1\r\nHost: t\r\n\r\n")
        [(head, body)] = _responses(connection, 1)
        assert head.status_code == 500 and body == b"Internal Server Error"
        assert _closed_by_server(connection)
    assert httpx.get(server_url + "/small").status_code == 200


def test_a_client_gone_mid_body_is_told_to_the_app_as_a_disconnect(server):
    DISCONNECTS.clear()
    with _connect(server) as connection:
        connection.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n0123")
        time.sleep(0.1)  # the app is now waiting for the rest
    deadline = time.monotonic() + 10
    while not DISCONNECTS and time.monotonic() < deadline:
        time.sleep(0.02)
    assert DISCONNECTS == ["/echo"]


def test_an_idle_kept_alive_connection_is_closed_after_the_timeout(server):
    with _connect(server) as connection:
        connection.sendall(b"GET /small HTTP/1.1\r\nHost: t\r\n\r\n")
        [(head, _)] = _responses(connection, 1)
        assert head.status_code == 200
        # keep-alive timeout 1 s, swept once a second: closed well within the socket's 10 s.
        assert _closed_by_server(connection)


class RecordingTransport(asyncio.Transport):
    """What reaches the socket, call by call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, tuple[bytes, ...]]] = []
        self.closed = False

    def write(self, data) -> None:
        self.calls.append(("write", (bytes(data),)))

    def writelines(self, chunks) -> None:
        self.calls.append(("writelines", tuple(bytes(c) for c in chunks)))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def test_a_head_and_its_body_leave_in_one_write():
    async def scenario() -> list:
        config = uvicorn.Config(_app(), log_level="critical")
        protocol = HttpProtocol(config, ServerState(), {}, asyncio.get_running_loop())
        transport = RecordingTransport()
        protocol.connection_made(transport)
        protocol.data_received(b"GET /small HTTP/1.1\r\nHost: t\r\n\r\n")
        while not transport.calls:
            await asyncio.sleep(0)
        protocol.connection_lost(None)
        return transport.calls

    [(kind, parts)] = asyncio.run(scenario())
    assert kind == "writelines"
    head, body = parts
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and head.endswith(b"\r\n\r\n")
    assert b"content-length: 11\r\n" in head
    assert body == b'{"ok":true}'


def test_a_slow_upload_after_an_early_answer_keeps_its_connection(server):
    with _connect(server) as connection:
        connection.sendall(b"POST /early HTTP/1.1\r\nHost: t\r\nContent-Length: 12\r\n\r\n")
        [(head, body)] = _responses(connection, 1)
        assert head.status_code == 200 and body == b"early"
        _trickle(connection, b"ab" * 6)
        connection.sendall(b"GET /small HTTP/1.1\r\nHost: t\r\n\r\n")
        [(head, body)] = _responses(connection, 1)
        assert head.status_code == 200 and body == b'{"ok":true}'


def test_a_slow_request_body_is_read_to_its_end(server):
    with _connect(server) as connection:
        connection.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 12\r\n\r\n")
        _trickle(connection, b"ab" * 6)
        [(head, body)] = _responses(connection, 1)
        assert head.status_code == 200 and body == b"ab" * 6


def test_a_request_head_that_never_finishes_is_closed(server):
    with _connect(server) as connection:
        connection.sendall(b"GET /small HTTP/1.1\r\nHost: t\r\n")
        assert _closed_by_server(connection)  # after the 1 s keep-alive timeout, not 10 s


def test_100_continue_is_sent_when_the_app_reads_after_starting_its_answer(server):
    with _connect(server) as connection:
        connection.sendall(
            b"POST /start-then-read HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        assert connection.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        connection.sendall(b"ping")
        [(head, body)] = _responses(connection, 1)
    assert head.status_code == 200 and body == b"ping"


def test_an_answer_that_skips_a_100_continue_body_closes_the_connection(server):
    with _connect(server) as connection:
        connection.sendall(
            b"POST /early HTTP/1.1\r\nHost: t\r\nContent-Length: 31\r\nExpect: 100-continue\r\n\r\n"
        )
        [(head, body)] = _responses(connection, 1)
        assert head.status_code == 200 and body == b"early"
        assert (b"connection", b"close") in head.headers
        # The body never sent: the next request must not be read as that body.
        assert _closed_by_server(connection)


def test_two_receive_calls_at_once_are_both_answered(server):
    with _connect(server) as connection:
        connection.sendall(b"POST /two-receivers HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\n")
        for part in (b"ab", b"cd"):
            time.sleep(0.2)  # both receive() calls are waiting
            connection.sendall(part)
        [(head, body)] = _responses(connection, 1)
    assert head.status_code == 200 and body == b"ab|cd"


def test_a_request_to_switch_protocols_cannot_smuggle_a_request_in_its_body(server):
    smuggled = b"GET /small HTTP/1.1\r\nHost: t\r\n\r\n"
    with _connect(server) as connection:
        connection.sendall(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: websocket\r\n"
            b"Content-Length: %d\r\n\r\n" % len(smuggled)
        )
        time.sleep(0.1)
        connection.sendall(smuggled)
        received = _read_until_closed(connection)
    assert received.startswith(b"HTTP/1.1 400 ")
    assert received.count(b"HTTP/1.1 ") == 1


def test_a_request_to_switch_to_another_protocol_is_answered_as_http_and_closed(server):
    with _connect(server) as connection:
        connection.sendall(
            b"GET /small HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n"
            b"GET /small HTTP/1.1\r\nHost: t\r\n\r\n"
        )
        received = _read_until_closed(connection)
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and b"connection: close" in head
    assert body == b'{"ok":true}'  # and nothing after it


def test_a_websocket_upgrade_is_handed_to_the_websocket_protocol(server):
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{server}/socket") as websocket:
        websocket.send("hello")
        assert websocket.recv(timeout=5) == "echo: hello"
    # a path that takes no WebSocket: the handshake is refused, nothing runs as HTTP
    with _connect(server) as connection:
        connection.sendall(
            b"GET /small HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
        received = _read_until_closed(connection)
    assert received.startswith(b"HTTP/1.1 403 ") and b'{"ok":true}' not in received


def test_chunked_trailers_never_become_request_headers(server):
    with _connect(server) as connection:
        connection.sendall(
            b"POST /header-names HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"2\r\nhi\r\n0\r\nX-Forwarded-For: 203.0.113.9\r\nAuthorization: Bearer x\r\n\r\n"
        )
        [(head, body)] = _responses(connection, 1)
    assert head.status_code == 200
    assert body.split(b",") == [b"host", b"transfer-encoding"]


@pytest.mark.parametrize(
    "head",
    [
        b"GET /small HTTP/1.1\r\nHost: t\r\n" + b"X-Big: %s\r\n" % (b"a" * 40_000) * 2 + b"\r\n",
        b"GET /small HTTP/1.1\r\nHost: t\r\nX-Unfinished: " + b"a" * 1_200_000,
    ],
    ids=["complete", "unfinished"],
)
def test_a_request_head_too_large_is_answered_431(server, head):
    with _connect(server) as connection:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.sendall(head)  # may be refused while it is still being sent
        received = _read_until_closed(connection)
    assert received.startswith(b"HTTP/1.1 431 ")
    assert b"\r\ndate: " in received


def test_a_malformed_request_pipelined_after_another_is_answered_after_it(server):
    with _connect(server) as connection:
        # The first answer takes longer than the keep-alive timeout: nothing is swept meanwhile.
        connection.sendall(
            b"GET /slow?seconds=2.5 HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /small HTTP/1.1\r\nHost t\r\n\r\n"
        )
        answers = _responses(connection, 2)
        assert _closed_by_server(connection)
    assert [(head.status_code, body[:4]) for head, body in answers] == [
        (200, b"slow"),
        (400, b"Inva"),
    ]


def test_a_pipelined_head_held_behind_a_long_answer_is_not_swept(server):
    with _connect(server) as connection:
        connection.sendall(
            b"GET /slow?seconds=2.5 HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /small HTTP/1.1\r\nHost: t\r\n\r\nGET /small HTTP/1.1\r\n"
        )
        time.sleep(0.1)
        connection.sendall(b"Host: t\r\n\r\n")
        answers = _responses(connection, 3)
    assert [head.status_code for head, _ in answers] == [200, 200, 200]


def test_a_body_stalled_after_an_early_answer_is_closed(server):
    with _connect(server) as connection:
        connection.sendall(
            b"POST /early HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n0123456789"
        )
        [(head, _)] = _responses(connection, 1)
        assert head.status_code == 200
        assert _closed_by_server(connection)  # after the 1 s keep-alive timeout, not 10 s


def test_no_100_continue_follows_a_final_answer(server):
    with _connect(server) as connection:
        connection.sendall(
            b"POST /answer-then-read HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
            b"Content-Length: 3\r\n\r\nabc"
        )
        time.sleep(0.6)  # the app reads the body after its answer
        connection.sendall(b"GET /small HTTP/1.1\r\nHost: t\r\n\r\n")
        received = b""
        while not received.endswith(b'{"ok":true}'):
            chunk = connection.recv(65536)
            assert chunk, f"closed early after {received!r}"
            received += chunk
    assert b"100 Continue" not in received
    assert received.count(b"HTTP/1.1 200 OK") == 2


def test_an_endless_trailer_is_refused(server):
    with _connect(server) as connection:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.sendall(
                b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"3\r\nabc\r\n0\r\nX-Trailer: " + b"a" * 1_200_000
            )
        received = _read_until_closed(connection)
    assert received.startswith(b"HTTP/1.1 400 ")
    assert received.endswith(b"Chunk framing or trailers too large.")


@pytest.mark.parametrize("path", ["/broken-after-start", "/bad-content-length"])
def test_an_app_failing_before_its_body_still_answers_500(server, path):
    with _connect(server) as connection:
        connection.sendall(b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path.encode())
        [(head, body)] = _responses(connection, 1)
        assert head.status_code == 500 and body == b"Internal Server Error"
        assert _closed_by_server(connection)
