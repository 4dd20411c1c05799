"""The HTTP/1.1 protocol `backforge serve` gives uvicorn: httptools parsing, the ASGI calls, and
little else per request.

uvicorn still runs the process (sockets, workers, signals, graceful shutdown, the Date header);
this class takes the place of its httptools protocol, whose Python per request (an
`asyncio.Event` and a cycle object per request, two regular expressions per response header, a
keep-alive timer armed and cancelled per response, head and body in two system calls) was a
fifth of the CPU of a small GET. Here:

- the response head waits for the first part of the body, and both leave in one write;
- response headers are checked for injected lines and control characters on the whole head
  at once, and each distinct header name once per process;
- idle connections are closed by one sweep a second per server, not a timer per response;
- a request body that has fully arrived is handed to `receive` without waiting.

A WebSocket upgrade hands the connection to uvicorn's WebSocket protocol (wsproto), as uvicorn's
own HTTP protocols do; an upgrade to any other protocol is answered as plain HTTP and the
connection closed, and an upgrade that declares a body is refused. Not supported: uvicorn's
`limit_concurrency`.
"""

from __future__ import annotations

import asyncio
import collections
import http
import logging
import re
import urllib.parse
import weakref
from typing import Any

import httptools
from uvicorn.protocols.utils import get_local_addr, get_remote_addr, is_ssl

logger = logging.getLogger("backforge.server")

HIGH_WATER = 64 * 1024  # request body bytes buffered before the socket stops being read
MAX_HEAD_BYTES = 64 * 1024  # request line and headers; more is answered 431
# httptools buffers a header or trailer line until it ends: bytes read while a head is
# unfinished, or after a body's last part without the request ending (chunk framing,
# trailers), are capped too (looser, as one read may also hold the requests before it).
MAX_UNPARSED_READ = 16 * MAX_HEAD_BYTES
SWEEP_SECONDS = 1.0

_NAME_CHARACTERS = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# The bytes a response head may hold: no control characters but tab, CR and LF (these two are
# counted on the whole head).
_HEAD_BYTES = bytes(b for b in range(256) if (b >= 0x20 and b != 0x7F) or b in b"\t\r\n")
_FRAMING = frozenset({b"content-length", b"transfer-encoding", b"connection"})
_NO_BODY_STATUSES = frozenset({204, 304})
_KNOWN_NAMES_KEPT = 4096


class _Refused(Exception):
    """A request the connection cannot go on from: answered with `status`, then closed."""

    def __init__(self, status: int, message: bytes):
        super().__init__(status, message)
        self.status = status
        self.message = message


def _head_too_large() -> _Refused:
    return _Refused(431, b"Request header fields too large.")


def _status_line(status: int) -> bytes:
    try:
        phrase = http.HTTPStatus(status).phrase.encode()
    except ValueError:
        phrase = b""
    return b"HTTP/1.1 %d %s\r\n" % (status, phrase)


STATUS_LINES = {status: _status_line(status) for status in range(100, 600)}
_checked_names: dict[bytes, bytes] = {}  # header name as sent -> its lower-case form


def _header_name(name: bytes) -> bytes:
    """The lower-case form of a response header name the app sent; a name that is not an
    HTTP token is an error of the app."""
    known = _checked_names.get(name)
    if known is not None:
        return known
    if not isinstance(name, bytes) or not _NAME_CHARACTERS.fullmatch(name):
        raise RuntimeError(f"invalid response header name {name!r}")
    lowered = name.lower()
    if len(_checked_names) < _KNOWN_NAMES_KEPT:
        _checked_names[name] = lowered
    return lowered


def _event_stream(exchange: _Exchange) -> bool:
    return exchange.started and any(
        name.lower() == b"content-type" and value.startswith(b"text/event-stream")
        for name, value in exchange.response_headers
    )


class _IdleSweep:
    """Closes connections that waited on their client for longer than the keep-alive timeout
    (idle between requests, or a request head that never finishes arriving), once a second,
    for all connections of one server."""

    def __init__(self, loop: asyncio.AbstractEventLoop, connections: set, timeout: float):
        self.loop = loop
        self.connections = connections
        self.timeout = timeout
        self.handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        if self.handle is None:
            self.handle = self.loop.call_later(SWEEP_SECONDS, self.sweep)

    def sweep(self) -> None:
        self.handle = None
        oldest = self.loop.time() - self.timeout
        for connection in list(self.connections):
            idle_since = getattr(connection, "idle_since", None)
            if idle_since is not None and idle_since <= oldest and not connection.answering():
                connection.transport.close()
        if self.connections:
            self.start()


_sweeps: weakref.WeakKeyDictionary[Any, _IdleSweep] = weakref.WeakKeyDictionary()


class HttpProtocol(asyncio.Protocol):
    """One client connection: parses its requests and runs the app for each, in order."""

    def __init__(self, config, server_state, app_state: dict[str, Any], _loop=None) -> None:
        if not config.loaded:
            config.load()
        self.app = config.loaded_app
        self.config = config
        # uvicorn's WebSocket protocol (wsproto), handed the connection on an upgrade to it
        self.ws_protocol_class = config.ws_protocol_class
        self.loop = _loop or asyncio.get_event_loop()
        self.root_path: str = config.root_path
        self.server_state = server_state
        self.app_state = app_state
        sweep = _sweeps.get(server_state)
        if sweep is None:
            sweep = _sweeps[server_state] = _IdleSweep(
                self.loop, server_state.connections, config.timeout_keep_alive
            )
        self.sweep = sweep
        self.parser = httptools.HttpRequestParser(self)
        self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.server: tuple | None = None
        self.client: tuple | None = None
        self.scheme = "http"
        # The loop time since which the connection waits on the client: for a request head
        # (idle, or a head arriving) or for the rest of a body already answered. Only read
        # while no request is being answered (`answering`).
        self.idle_since: float | None = None
        self.exchange: _Exchange | None = None  # the request being answered
        self.waiting: collections.deque[_Exchange] = collections.deque()  # pipelined after it
        self.reading_paused = False
        self.writing_paused = False
        self.drained: asyncio.Future | None = None
        self.reading_done = False  # nothing more is parsed from this connection
        self.refusal: _Refused | None = None  # written once the answers before it are
        self._date_headers: list | None = None
        self._date_lines = (b"", 0)
        # Per request, while it is parsed:
        self.in_head = False
        self.in_message = False
        self.head_bytes = 0
        self.unparsed_read = 0
        self.body_arrived = False  # a part of the body (or its end) came in the last read
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.expect_continue = False
        self.websocket_head: bytes | None = None  # an upgrade to WebSocket, to hand over

    # -- connection
    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport
        self.server = get_local_addr(transport)
        self.client = get_remote_addr(transport)
        self.scheme = "https" if is_ssl(transport) else "http"
        self.server_state.connections.add(self)
        self.idle_since = self.loop.time()
        self.sweep.start()

    def connection_lost(self, exc: Exception | None) -> None:
        self.server_state.connections.discard(self)
        self.idle_since = None
        exchange = self.exchange
        if exchange is not None and not exchange.complete:
            exchange.disconnected = True
            exchange.wake()
        self.waiting.clear()
        self._release_writers()

    def eof_received(self) -> None:
        pass

    def data_received(self, data: bytes) -> None:
        if self.reading_done:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self.websocket_head is not None:
                self._hand_over_to_websocket(self.websocket_head)
                return
            # Any other protocol is not spoken here: the request is answered as plain HTTP,
            # then the connection closes (what follows its head belongs to that protocol).
            self.reading_done = True
        except httptools.HttpParserError as error:
            refused = error.__context__
            if not isinstance(refused, _Refused):
                refused = _Refused(400, b"Invalid HTTP request received.")
            self._refuse(refused)
            return
        if self.body_arrived:
            self.body_arrived = False
            self.unparsed_read = 0
        elif self.in_message:
            self.unparsed_read += len(data)
            if self.unparsed_read > MAX_UNPARSED_READ:
                self._refuse(
                    _head_too_large()
                    if self.in_head
                    else _Refused(400, b"Chunk framing or trailers too large.")
                )

    def _websocket_wanted(self) -> bool:
        if self.ws_protocol_class is None:
            return False
        return any(
            name == b"upgrade" and value.strip().lower() == b"websocket"
            for name, value in self.headers
        )

    def _hand_over_to_websocket(self, head: bytes) -> None:
        """The connection becomes uvicorn's WebSocket protocol's, which reads the head again
        (the handshake) and runs the app with a `websocket` scope, as uvicorn's own HTTP
        protocols do."""
        self.reading_done = True
        self.server_state.connections.discard(self)
        protocol = self.ws_protocol_class(  # type: ignore[misc]
            config=self.config, server_state=self.server_state, app_state=self.app_state
        )
        protocol.connection_made(self.transport)
        self.transport.set_protocol(protocol)
        protocol.data_received(head)

    def _refuse(self, refused: _Refused) -> None:
        """Answer `refused` after the requests before it, and read nothing more. A request
        whose body broke is never answered by the app: a waiting one is dropped, the one
        running hears that its client went away."""
        self.reading_done = True
        self.pause_reading()
        if self.waiting and self.waiting[-1].more_body:
            self.waiting.pop()
        exchange = self.exchange
        if exchange is not None and not exchange.complete:
            if not exchange.more_body or self.waiting:  # the broken request is a later one
                self.refusal = refused
                return
            exchange.disconnected = True
            exchange.wake()
            if exchange.started and exchange.head is None:  # part of its answer is out
                self.transport.close()
                return
        date_lines, _ = self.date_lines()
        self.transport.write(
            b"%s%scontent-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s"
            % (STATUS_LINES[refused.status], date_lines, len(refused.message), refused.message)
        )
        self.transport.close()

    def shutdown(self) -> None:
        """Graceful shutdown (called by uvicorn): close now if idle, else after this answer;
        an event stream has no end to wait for, so it closes now too (its client reconnects,
        to another process, with Last-Event-ID)."""
        exchange = self.exchange
        if exchange is None or exchange.complete or _event_stream(exchange):
            self.transport.close()
        else:
            exchange.keep_alive = False

    # -- flow control
    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        self._release_writers()

    def _release_writers(self) -> None:
        drained, self.drained = self.drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    async def drain(self) -> None:
        if self.drained is None:
            self.drained = self.loop.create_future()
        await self.drained

    def pause_reading(self) -> None:
        if not self.reading_paused:
            self.reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.reading_paused:
            self.reading_paused = False
            self.transport.resume_reading()

    def answering(self) -> bool:
        """Whether a request of this connection is being answered."""
        return bool(self.waiting) or (self.exchange is not None and not self.exchange.complete)

    def reading_wanted(self, exchange: _Exchange) -> None:
        """`exchange` wants more of its body: read on, unless a pipelined request waits."""
        if exchange is self.exchange and not self.waiting and not self.reading_done:
            self.resume_reading()

    # -- parser callbacks
    def on_message_begin(self) -> None:
        self.idle_since = self.loop.time()  # the head has that long to arrive
        self.in_head = self.in_message = True
        self.head_bytes = self.unparsed_read = 0
        self.url = b""
        self.headers = []
        self.expect_continue = False

    def on_url(self, url: bytes) -> None:
        self.head_bytes += len(url)
        if self.head_bytes > MAX_HEAD_BYTES:
            raise _head_too_large()
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.in_head:
            return  # a trailer after a chunked body: never taken for a header
        self.head_bytes += len(name) + len(value)
        if self.head_bytes > MAX_HEAD_BYTES:
            raise _head_too_large()
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.in_head = False
        parser = self.parser
        upgrade = parser.should_upgrade()
        # Asked to switch protocols: llhttp would skip a declared body and parse it as the next
        # request, so such a request is refused; one without a body is answered as plain HTTP
        # and the connection closed after it.
        if upgrade and any(
            name in (b"content-length", b"transfer-encoding") for name, _ in self.headers
        ):
            raise _Refused(400, b"A request to switch protocols cannot carry a body.")
        if upgrade and self._websocket_wanted():
            if self.waiting or (self.exchange is not None and not self.exchange.complete):
                raise _Refused(400, b"A WebSocket upgrade cannot follow an unanswered request.")
            method = parser.get_method()
            lines = [b"%s: %s\r\n" % header for header in self.headers]
            self.websocket_head = b"%s %s HTTP/1.1\r\n%s\r\n" % (method, self.url, b"".join(lines))
            return
        version = parser.get_http_version()
        url = httptools.parse_url(self.url)
        raw_path = url.path
        path = raw_path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        root_path = self.root_path
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": version,
            "server": self.server,
            "client": self.client,
            "scheme": self.scheme,
            "method": parser.get_method().decode("ascii"),
            "root_path": root_path,
            "path": root_path + path if root_path else path,
            "raw_path": root_path.encode("ascii") + raw_path if root_path else raw_path,
            "query_string": url.query or b"",
            "headers": self.headers,
            "state": self.app_state.copy(),
        }
        keep_alive = version != "1.0" and parser.should_keep_alive() and not upgrade
        exchange = _Exchange(self, scope, keep_alive, self.expect_continue)
        if self.exchange is None or self.exchange.complete:
            self.exchange = exchange
            self._run(exchange)
        else:
            # Pipelined: answered in order, and nothing more is read until this one starts.
            self.waiting.append(exchange)
            self.pause_reading()

    def on_body(self, body: bytes) -> None:
        self.body_arrived = True
        exchange = self.waiting[-1] if self.waiting else self.exchange
        if exchange is None:
            return
        if exchange.complete:  # answered already: the rest is dropped as it arrives
            self.idle_since = self.loop.time()
            return
        exchange.body += body
        if len(exchange.body) > HIGH_WATER:
            self.pause_reading()
        exchange.wake()

    def on_message_complete(self) -> None:
        self.in_message = False
        self.body_arrived = True
        exchange = self.waiting[-1] if self.waiting else self.exchange
        if exchange is None:
            return
        if exchange.complete:  # answered before its body had all arrived
            self.idle_since = self.loop.time()
            return
        exchange.more_body = False
        exchange.wake()

    # -- answers
    def _run(self, exchange: _Exchange) -> None:
        task = self.loop.create_task(exchange.run(self.app))
        tasks = self.server_state.tasks
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def answered(self, exchange: _Exchange) -> None:
        """The whole response of `exchange` is written."""
        self.server_state.total_requests += 1
        if not exchange.keep_alive:
            self.transport.close()
            return
        if self.transport.is_closing():
            return
        if self.waiting:
            self.exchange = self.waiting.popleft()
            self._run(self.exchange)
            if not self.waiting and not self.reading_done:
                self.resume_reading()
        elif self.refusal is not None:
            self._refuse(self.refusal)
        else:
            # Waiting on the client from now: for the next head (a part of it may have
            # arrived while reading was held) or the rest of this request's body.
            self.idle_since = self.loop.time()
            self.resume_reading()

    def date_lines(self) -> tuple[bytes, int]:
        """The server's default headers (Date, refreshed by uvicorn every second), encoded,
        and how many they are."""
        headers = self.server_state.default_headers
        if headers is not self._date_headers:
            self._date_headers = headers
            self._date_lines = (b"".join(b"%s: %s\r\n" % (n, v) for n, v in headers), len(headers))
        return self._date_lines


class _Exchange:
    """One request and its response: the `receive` and `send` the app is called with."""

    __slots__ = (
        "bodiless",
        "body",
        "chunked",
        "complete",
        "delivered",
        "disconnected",
        "expect_continue",
        "head",
        "keep_alive",
        "more_body",
        "protocol",
        "remaining",
        "response_headers",
        "scope",
        "started",
        "waiters",
    )

    def __init__(self, protocol: HttpProtocol, scope: dict, keep_alive: bool, expect: bool):
        self.protocol = protocol
        self.scope = scope
        self.response_headers: Any = ()
        self.keep_alive = keep_alive
        self.expect_continue = expect
        self.body = bytearray()
        self.more_body = True
        self.delivered = False  # the last part of the request body went to the app
        self.waiters: list[asyncio.Future] = []  # receive() calls waiting for body or its end
        self.disconnected = False
        self.started = False
        self.complete = False
        self.head: bytes | None = None  # written with the first part of the body
        self.chunked = False
        self.remaining: int | None = None  # body bytes still owed under Content-Length
        self.bodiless = False  # HEAD, 204, 304: whatever body the app sends is dropped

    def wake(self) -> None:
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def run(self, app) -> None:
        try:
            await app(self.scope, self.receive, self.send)
        except BaseException:
            logger.exception("unhandled error in the ASGI application")
            await self._answer_500_or_close()
            return
        if self.disconnected or self.complete:
            return
        if not self.started:
            logger.error("the ASGI application returned without a response")
        else:
            logger.error("the ASGI application returned before its response was complete")
        await self._answer_500_or_close()

    async def _answer_500_or_close(self) -> None:
        """After the app failed: a 500 if nothing of its response is out, else a close."""
        if self.disconnected or self.complete:
            return
        if self.started and self.head is None:
            self.protocol.transport.close()
            return
        self.started = False
        self.head = None
        self.keep_alive = False
        await self.send(
            {
                "type": "http.response.start",
                "status": 500,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")],
            }
        )
        await self.send({"type": "http.response.body", "body": b"Internal Server Error"})

    async def receive(self) -> dict[str, Any]:
        protocol = self.protocol
        if self.expect_continue:
            # Asked for the body: the client may send it now (the final head, if the app
            # already gave it, is still held).
            self.expect_continue = False
            if self.more_body and not protocol.transport.is_closing():
                protocol.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        while not (self.disconnected or self.complete):
            if not self.delivered and (self.body or not self.more_body):
                body = bytes(self.body)
                self.body.clear()
                more = self.more_body
                self.delivered = not more
                protocol.reading_wanted(self)
                return {"type": "http.request", "body": body, "more_body": more}
            protocol.reading_wanted(self)  # it may have stopped at the high-water mark
            waiter = protocol.loop.create_future()
            self.waiters.append(waiter)
            try:
                await waiter
            finally:
                self.waiters.remove(waiter)
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        protocol = self.protocol
        if protocol.writing_paused and not self.disconnected:
            await protocol.drain()
        if self.disconnected:
            return
        kind = message["type"]
        if not self.started:
            if kind != "http.response.start":
                raise RuntimeError(f"expected 'http.response.start', got {kind!r}")
            # A malformed head raises before anything is marked sent: a 500 can still go out.
            self.response_headers = message.get("headers", ())
            self.head = self._head(message["status"], self.response_headers)
            self.started = True
            return
        if self.complete or kind != "http.response.body":
            raise RuntimeError(f"unexpected ASGI message {kind!r}")
        body = message.get("body", b"")
        more = message.get("more_body", False)
        if self.bodiless:
            data = b""
        elif self.chunked:
            data = b"%x\r\n%s\r\n" % (len(body), body) if body else b""
            if not more:
                data += b"0\r\n\r\n"
        else:
            data = body
            if self.remaining is not None:
                self.remaining -= len(body)
                if self.remaining < 0:
                    raise RuntimeError("response body longer than its Content-Length")
        transport = protocol.transport
        head = self.head
        if head is not None:
            self.head = None
            if self.expect_continue:
                self.expect_continue = False  # no 100 Continue after the final answer
                if self.more_body:
                    # Answered without asking for the body: the client may never send it,
                    # so nothing more can be read on this connection.
                    head = self._closing(head)
            if data:
                transport.writelines((head, data))  # one system call
            else:
                transport.write(head)
        elif data:
            transport.write(data)
        if not more:
            if self.remaining:
                raise RuntimeError("response body shorter than its Content-Length")
            self.complete = True
            self.wake()
            protocol.answered(self)

    def _closing(self, head: bytes) -> bytes:
        """`head`, announcing that the connection closes after this response."""
        if not self.keep_alive:
            return head
        self.keep_alive = False
        return head[:-2] + b"connection: close\r\n\r\n"

    def _head(self, status: int, headers) -> bytes:
        """The status line and headers, encoded; sets how the body is framed. Refuses (and
        changes nothing) if a header is malformed."""
        date_lines, date_count = self.protocol.date_lines()
        lines = [STATUS_LINES.get(status) or _status_line(status), date_lines]
        remaining = None
        chunked = False
        keep_alive = self.keep_alive
        closing = False
        for name, value in headers:
            name = _header_name(name)
            if name in _FRAMING:
                if name == b"content-length":
                    if not value.isdigit():
                        raise RuntimeError(f"invalid response Content-Length {value!r}")
                    if remaining is None and not chunked:
                        remaining = int(value)
                elif name == b"transfer-encoding":
                    if value.lower() == b"chunked":
                        chunked = True
                        remaining = None
                elif b"close" in [token.strip() for token in value.lower().split(b",")]:
                    keep_alive = False
                    closing = True
            lines += (name, b": ", value, b"\r\n")
        line_count = 2 + date_count + (len(lines) - 2) // 4  # status line, headers, the end
        bodiless = self.scope["method"] == "HEAD" or status in _NO_BODY_STATUSES
        if bodiless:
            remaining = None
        elif remaining is None and not chunked:
            if self.scope["http_version"] == "1.1":
                chunked = True
                lines.append(b"transfer-encoding: chunked\r\n")
                line_count += 1
            else:
                keep_alive = False  # the end of the body is the end of the connection
        if not keep_alive and not closing:
            lines.append(b"connection: close\r\n")
            line_count += 1
        lines.append(b"\r\n")
        head = b"".join(lines)
        # Each line ends in the one CRLF put there above: a CR or LF inside a value (a header
        # injected into the response) would add more.
        if head.count(b"\n") != line_count or head.count(b"\r") != line_count:
            raise RuntimeError("a response header value holds a line break")
        if head.translate(None, _HEAD_BYTES):  # what is left is a control character
            raise RuntimeError("a response header value holds a control character")
        self.remaining, self.chunked, self.keep_alive = remaining, chunked, keep_alive
        self.bodiless = bodiless
        return head
