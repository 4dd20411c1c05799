"""The HTTP protocol of `backforge serve`: a response's head and body leave in one write, and
every kind of answer still arrives whole over a real socket."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from backforge.server_protocol import CoalescingHttpToolsProtocol, CoalescingTransport


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
        self.calls.append(("close", ()))

    def get_write_buffer_size(self) -> int:
        return 0


def test_a_head_and_its_body_go_out_in_one_call_and_nothing_waits_past_the_turn():
    async def scenario() -> list:
        real = RecordingTransport()
        transport = CoalescingTransport(real, asyncio.get_running_loop())
        transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
        transport.write(b"body")
        transport.write(b"HTTP/1.1 204 No Content\r\n\r\n")  # alone: sent when the turn ends
        assert transport.get_write_buffer_size() == len(b"HTTP/1.1 204 No Content\r\n\r\n")
        await asyncio.sleep(0)
        transport.write(b"last")
        transport.close()  # what is held goes first
        return real.calls

    calls = asyncio.run(scenario())
    assert calls == [
        ("writelines", (b"HTTP/1.1 200 OK\r\n\r\n", b"body")),
        ("write", (b"HTTP/1.1 204 No Content\r\n\r\n",)),
        ("write", (b"last",)),
        ("close", ()),
    ]


async def _small(_request: Request) -> Response:
    return Response(b'{"ok":true}', media_type="application/json")


async def _empty(_request: Request) -> Response:
    return Response(status_code=204)


async def _stream(_request: Request) -> StreamingResponse:
    async def chunks():
        for part in (b"one,", b"two,", b"three"):
            await asyncio.sleep(0.01)
            yield part

    return StreamingResponse(chunks(), media_type="text/plain")


async def _echo(request: Request) -> Response:
    return Response(await request.body(), media_type="application/octet-stream")


@pytest.fixture(scope="module")
def server_url():
    app = Starlette(
        routes=[
            Route("/small", _small),
            Route("/empty", _empty),
            Route("/stream", _stream),
            Route("/echo", _echo, methods=["POST"]),
        ]
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http=CoalescingHttpToolsProtocol, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(20)


def test_every_kind_of_answer_arrives_whole_on_one_kept_alive_connection(server_url):
    big = bytes(range(256)) * 4096  # 1 MiB: more than one socket buffer
    with httpx.Client(base_url=server_url) as client:
        for _ in range(3):
            small = client.get("/small")
            assert small.status_code == 200 and small.json() == {"ok": True}
            head = client.head("/small")
            assert head.status_code == 200 and head.content == b""
            assert head.headers["content-length"] == str(len(b'{"ok":true}'))
            empty = client.get("/empty")
            assert empty.status_code == 204 and empty.content == b""
            stream = client.get("/stream")
            assert stream.status_code == 200 and stream.text == "one,two,three"
            echoed = client.post("/echo", content=big)
            assert echoed.status_code == 200 and echoed.content == big
