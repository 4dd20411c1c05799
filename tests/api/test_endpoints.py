"""Custom endpoints, async and sync: every body kind (JSON, form, multipart files, text, bytes),
every answer kind (JSON, text, bytes, HTML from autoescaping templates, redirects, streams),
read-only endpoints outside the write lock, atomic work in async handlers, time limits, and
what is refused at start-up — on SQLite and PostgreSQL, over HTTP."""

from __future__ import annotations

import json
import sqlite3
import time

import pytest

from backforge.spec import DeclarationError

DECLARATION = {
    "name": "endpoints",
    "hooks": "endpoint_hooks.py",
    "collections": {
        "notes": {
            "fields": {"text": {"type": "text", "required": True}},
            "rules": {"list": "public", "view": "public", "create": "public"},
        }
    },
}
HOOKS = """
import asyncio
import time
from pathlib import Path

from pydantic import BaseModel, Field
from starlette.responses import StreamingResponse

from backforge.hooks import Endpoints
from backforge.http.problems import ProblemError

endpoints = Endpoints()


class Note(BaseModel):
    text: str = Field(min_length=1, max_length=50)


@endpoints.post("/async/notes", request=Note, status=201)
async def add_note(ctx):
    await asyncio.sleep(0)
    created = ctx.store.create("notes", {"text": ctx.body.text})
    return {"id": created["id"], "count": ctx.store.count("notes")}


@endpoints.post("/async/both", request=Note)
async def add_two(ctx):
    def work(ctx):
        ctx.store.create("notes", {"text": ctx.body.text})
        if ctx.body.text == "fail":
            raise ValueError("the second write fails: the first goes too")
        ctx.store.create("notes", {"text": ctx.body.text + "!"})

    await ctx.atomic(work)
    return {"count": ctx.store.count("notes")}


@endpoints.post("/form", request=Note, body="form")
def form(ctx):
    return {"text": ctx.body.text}


@endpoints.post("/upload", body="multipart")
async def upload(ctx):
    (picture,) = ctx.files["picture"]
    content = picture.read()
    return {
        "title": ctx.body["title"],
        "filename": picture.filename,
        "type": picture.content_type,
        "size": len(content),
        "first": content[:4].decode("latin-1"),
    }


@endpoints.post("/echo/text", body="text")
def echo_text(ctx):
    return ctx.body.upper()


@endpoints.post("/echo/bytes", body="bytes")
def echo_bytes(ctx):
    return bytes(reversed(ctx.body))


@endpoints.get("/page")
def page(ctx):
    return ctx.render("page.html", name=ctx.query.get("name", ""))


@endpoints.get("/away")
def away(ctx):
    return ctx.redirect("/page?name=x")


@endpoints.get("/stream")
async def stream(ctx):
    async def parts():
        for part in ("a", "b", "c"):
            yield part

    return StreamingResponse(parts(), media_type="text/plain")


@endpoints.get("/notes/count")
def count(ctx):
    return {"count": ctx.store.count("notes")}


@endpoints.post("/slow", timeout=0.3)
def slow(ctx):
    ctx.store.create("notes", {"text": "late"})
    time.sleep(1.5)
    Path(ctx.query["marker"]).write_text("done")
    return {"never": "seen"}


@endpoints.get("/slow/async", timeout=0.3)
async def slow_async(ctx):
    await asyncio.sleep(5)


@endpoints.get("/own-timeout", timeout=5)
async def own_timeout(ctx):
    raise TimeoutError("the handler's own, not the limit")


@endpoints.post("/own-timeout/sync", timeout=5)
def own_timeout_sync(ctx):
    raise TimeoutError("the handler's own, not the limit")


class Count(BaseModel):
    n: int


@endpoints.get("/own-model")
def own_model(ctx):
    return {"n": Count.model_validate({"n": ctx.query.get("n")}).n}


@endpoints.get("/bad-answer", response=Count)
def bad_answer(ctx):
    return {"n": ctx.query.get("n")}


def shaped(status, problem):
    return status, {"message": problem["detail"]}


@endpoints.post("/busy", error_formatter=shaped)
def busy(ctx):
    raise ProblemError(429, "too-many", "wait", headers={"Retry-After": "7"})
"""


@pytest.fixture
def service(tmp_path, make_client):
    (tmp_path / "endpoint_hooks.py").write_text(HOOKS)
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "page.html").write_text("<p>Hello, {{ name }}</p>")
    path = tmp_path / "endpoints.yaml"
    path.write_text(json.dumps(DECLARATION))
    return make_client(path)


def test_an_async_handler_uses_the_store_and_atomic_work(service):
    created = service.post("/async/notes", json={"text": "one"})
    assert created.status_code == 201, created.text
    assert created.json()["count"] == 1
    assert service.post("/async/notes", json={"text": ""}).status_code == 422
    both = service.post("/async/both", json={"text": "two"})
    assert both.json() == {"count": 3}
    failed = service.post("/async/both", json={"text": "fail"})
    assert failed.status_code == 500
    assert service.get("/notes/count").json() == {"count": 3}  # nothing of the failed work


def test_bodies_of_every_kind(service):
    assert service.post("/form", data={"text": "from a form"}).json() == {"text": "from a form"}
    assert service.post("/form", data={"text": ""}).status_code == 422
    assert service.post("/form", json={"text": "json"}).status_code == 415
    picture = b"\x89PNG" + bytes(range(256)) * 8
    uploaded = service.post(
        "/upload",
        data={"title": "me"},
        files={"picture": ("me.png", picture, "image/png")},
    )
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json() == {
        "title": "me",
        "filename": "me.png",
        "type": "image/png",
        "size": len(picture),
        "first": "\x89PNG",
    }
    broken = service.post(
        "/upload",
        content=b"--x\r\nnot a part",
        headers={"content-type": "multipart/form-data; boundary=x"},
    )
    assert broken.status_code == 400
    text = service.post(
        "/echo/text", content="héllo".encode(), headers={"content-type": "text/plain"}
    )
    assert text.text == "HÉLLO" and text.headers["content-type"].startswith("text/plain")
    raw = service.post("/echo/bytes", content=b"\x00\x01\x02")
    assert raw.content == b"\x02\x01\x00"
    assert raw.headers["content-type"] == "application/octet-stream"


def test_answers_of_every_kind(service):
    page = service.get("/page", params={"name": "<script>alert(1)</script>"})
    assert page.headers["content-type"].startswith("text/html")
    assert page.text == "<p>Hello, &lt;script&gt;alert(1)&lt;/script&gt;</p>"
    away = service.get("/away", follow_redirects=False)
    assert away.status_code == 303 and away.headers["location"] == "/page?name=x"
    assert service.get("/stream").text == "abc"


def test_a_read_only_endpoint_answers_while_another_holds_the_write_lock(
    tmp_path, sqlite_url, make_sqlite_client
):
    """SQLite: a write transaction elsewhere holds the lock (PostgreSQL's readers never wait
    on writers, so there is nothing to show there)."""
    (tmp_path / "endpoint_hooks.py").write_text(HOOKS)
    path = tmp_path / "endpoints.yaml"
    path.write_text(json.dumps(DECLARATION))
    service = make_sqlite_client(path)
    service.post("/async/notes", json={"text": "one"})
    holder = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), timeout=1)
    holder.execute("BEGIN IMMEDIATE")  # another process's write transaction
    try:
        answer = service.get("/notes/count")
    finally:
        holder.rollback()
        holder.close()
    assert answer.status_code == 200 and answer.json() == {"count": 1}


def test_time_limits_answer_504_and_keep_nothing(service, tmp_path):
    marker = tmp_path / "slow-finished"
    late = service.post("/slow", params={"marker": str(marker)})
    assert late.status_code == 504
    assert late.json()["type"].endswith(":timeout")
    deadline = time.monotonic() + 10
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists()  # the handler ran to its end...
    for _ in range(20):  # ...and its transaction was rolled back, not committed
        assert service.get("/notes/count").json() == {"count": 0}
        time.sleep(0.05)
    assert service.get("/slow/async").status_code == 504


def test_a_handlers_own_timeout_is_its_failure_not_the_limit(service):
    for answer in (service.get("/own-timeout"), service.post("/own-timeout/sync")):
        assert answer.status_code == 500, answer.text
        assert answer.json()["type"].endswith(":internal")


def test_a_handlers_model_refusing_client_input_is_422_and_no_value_is_logged(service, caplog):
    refused = service.get("/own-model", params={"n": "not-a-number-7f3a"})
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["path"] == "/n"
    # A response its model refuses is the server's fault: 500, logged without the value.
    failed = service.get("/bad-answer", params={"n": "private-value-9c2e"})
    assert failed.status_code == 500
    assert "did not validate" in caplog.text and "n: int_parsing" in caplog.text
    assert "private-value-9c2e" not in caplog.text and "private-value-9c2e" not in failed.text


def test_an_error_shape_keeps_the_problems_headers(service):
    busy = service.post("/busy")
    assert busy.status_code == 429
    assert busy.json() == {"message": "wait"}
    assert busy.headers["retry-after"] == "7"
    assert busy.headers["content-type"] == "application/json"


def test_what_cannot_work_is_refused_at_start_up(tmp_path, make_client):
    (tmp_path / "bad_hooks.py").write_text(
        "from pydantic import BaseModel\n"
        "from backforge.hooks import Endpoints\n"
        "endpoints = Endpoints()\n"
        "class M(BaseModel):\n"
        "    a: int\n"
        "@endpoints.post('/t', request=M, body='text')\n"
        "def t(ctx):\n"
        "    return {}\n"
        "@endpoints.post('/g', body='yaml')\n"
        "def g(ctx):\n"
        "    return {}\n"
    )
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps({**DECLARATION, "hooks": "bad_hooks.py"}))
    with pytest.raises(DeclarationError) as caught:
        make_client(path)
    message = str(caught.value)
    assert "a text body has no model" in message
    assert "body is one of json, form, multipart, text, bytes" in message


def test_the_document_names_each_body_kind(service):
    paths = service.get("/api/openapi.json").json()["paths"]
    assert set(paths["/form"]["post"]["requestBody"]["content"]) == {
        "application/x-www-form-urlencoded"
    }
    assert set(paths["/upload"]["post"]["requestBody"]["content"]) == {"multipart/form-data"}
    assert set(paths["/echo/bytes"]["post"]["requestBody"]["content"]) == {
        "application/octet-stream"
    }
    assert "requestBody" not in paths["/page"]["get"]
