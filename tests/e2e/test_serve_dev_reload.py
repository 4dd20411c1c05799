"""`backforge serve --dev` reloads when the declaration or its hooks change, keeping the
database; while a change cannot be served it answers why, and the next save recovers."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest


def _until(check: Callable[[], bool], what: str, log, deadline: float = 60) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            if check():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}:\n{log.read_text()}")


def test_edits_under_a_running_dev_server_are_served_without_a_restart(
    make_server, admin, tmp_path
):
    declaration = tmp_path / "notes.yaml"
    declaration.write_text(
        "name: notes\n"
        "collections:\n"
        "  notes:\n"
        "    fields:\n"
        "      title: {type: text, required: true}\n"
        "    rules: {list: public, view: public}\n"
    )
    server = make_server("shop.yaml")  # its environment; the declaration is ours
    server.declaration = declaration
    server.start("--dev")
    client = httpx.Client(base_url=server.url, headers=admin, timeout=5)
    kept = client.post("/api/notes", json={"title": "kept"})
    assert kept.status_code == 201, kept.text

    # A new field: migrated and served, the data kept.
    declaration.write_text(
        declaration.read_text().replace(
            "      title: {type: text, required: true}\n",
            "      title: {type: text, required: true}\n      color: {type: text}\n",
        )
    )

    def has_color() -> bool:
        return "color" in client.get("/api/openapi.json").text

    _until(has_color, "the new field", server.log)
    made = client.post("/api/notes", json={"title": "red", "color": "red"})
    assert made.status_code == 201 and made.json()["color"] == "red"
    assert client.get(f"/api/notes/{kept.json()['id']}").json()["title"] == "kept"

    # A broken declaration: every request says why, with the line, and nothing is lost.
    good = declaration.read_text()
    declaration.write_text(good.replace("color: {type: text}", "color: {type: txt}"))

    def broken() -> bool:
        return client.get("/api/notes").status_code == 503

    _until(broken, "the broken declaration to be reported", server.log)
    answer = client.get("/api/notes")
    assert answer.headers["content-type"] == "application/problem+json"
    assert "notes.yaml:6:" in answer.json()["detail"] and "did you mean 'text'" in answer.text

    # Fixed, with a hooks file and an endpoint in it: served again, the same rows.
    (tmp_path / "notes_hooks.py").write_text(
        "from backforge.hooks import Endpoints\n"
        "endpoints = Endpoints()\n"
        "@endpoints.get('/api/hello')\n"
        "def hello(ctx):\n"
        "    return {'hello': 'world'}\n"
    )
    declaration.write_text("hooks: notes_hooks.py\n" + good)
    _until(lambda: client.get("/api/hello").status_code == 200, "the endpoint", server.log)
    assert len(client.get("/api/notes").json()["items"]) == 2

    # The hooks file alone changes: reloaded too.
    hooks = tmp_path / "notes_hooks.py"
    hooks.write_text(hooks.read_text().replace("'world'", "'again'"))
    _until(lambda: client.get("/api/hello").json() == {"hello": "again"}, "the edit", server.log)
    client.close()
    assert "Traceback" not in server.log.read_text()


def test_reload_without_dev_never_migrates(make_server, admin, tmp_path):
    """`--reload` alone restarts on changes but leaves the schema to reviewed migrations: a
    change that needs one answers 503 naming the fix, and the database is untouched."""
    declaration = tmp_path / "notes.yaml"
    declaration.write_text(
        "name: notes\ncollections:\n  notes:\n    fields:\n      title: {type: text}\n"
    )
    server = make_server("shop.yaml")  # its environment; the declaration is ours
    server.declaration = declaration
    server.start("--dev", "--no-reload")  # the first schema
    server.stop()
    server.start("--reload")
    client = httpx.Client(base_url=server.url, headers=admin, timeout=5)
    assert client.get("/api/notes").status_code == 200
    declaration.write_text(declaration.read_text() + "      color: {type: text}\n")

    def behind() -> bool:
        return client.get("/api/notes").status_code == 503

    _until(behind, "the pending change to be reported", server.log)
    detail = client.get("/api/notes").json()["detail"]
    assert "behind the declaration" in detail and "backforge migrate plan" in detail
    client.close()
