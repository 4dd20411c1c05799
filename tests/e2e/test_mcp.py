"""`backforge mcp` driven by the `mcp` package's own client, over stdio (a child process) and
over streamable HTTP on 127.0.0.1: the loop an agent runs, the rules holding for two users,
and the refusals (paths outside the project, database changes without confirmation)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

mcp = pytest.importorskip("mcp")
import httpx2  # noqa: E402 - the mcp client's own HTTP client
from mcp import Client, StdioServerParameters  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402
from mcp.shared.exceptions import MCPError  # noqa: E402

BROKEN = """name: diary
collections:
  writers:
    auth: {signup: closed, login: [email]}
    fields:
      pen_name: {type: txt, max_length: 80}
  entries:
    fields:
      writer: {type: relation, to: writers, required: true, default: auth.id, readonly: true}
      text: {type: text, required: true, max_length: 2000}
    rules:
      list: writer = auth.id
      view: writer = auth.id
      create: auth.id != null
      update: writer = auth.id
"""
# Structure first: rules are judged once the collections and fields stand.
BROKEN_RULES = BROKEN.replace("type: txt", "type: text").replace(
    "update: writer = auth.id", "update: writr = auth.id\n      delete: auth.rank > 2"
)
FIXED = BROKEN.replace("type: txt", "type: text")
TOOLS = {
    "declaration_format",
    "validate_declaration",
    "write_declaration",
    "describe_api",
    "explain_rule",
    "migration_status",
    "plan_migration",
    "apply_migrations",
    "start_server",
    "server_log",
    "stop_server",
    "create_test_account",
    "call_api",
    "run_audit",
}


class Session:
    """Tool calls through an MCP client: the answer's data, or its error text."""

    def __init__(self, client: Client):
        self.client = client

    async def ok(self, tool: str, **arguments: Any) -> Any:
        result = await self.client.call_tool(tool, arguments)
        assert not result.is_error, f"{tool}: {result.content[0].text}"
        data = result.structured_content
        if data is None:
            return json.loads(result.content[0].text)
        return data.get("result", data) if set(data) == {"result"} else data

    async def refused(self, tool: str, **arguments: Any) -> str:
        result = await self.client.call_tool(tool, arguments)
        assert result.is_error, f"{tool} was not refused: {result.structured_content}"
        return result.content[0].text


def _stdio(project: Path) -> Client:
    parameters = StdioServerParameters(
        command=sys.executable,
        args=["-m", "backforge", "mcp", str(project)],
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(project)},
    )
    return Client(parameters, read_timeout_seconds=120)


def test_the_whole_loop_over_stdio(tmp_path):
    project = tmp_path / "diary"
    project.mkdir()
    outside = tmp_path / "outside.yaml"
    outside.write_text(FIXED)
    (project / "linked.yaml").symlink_to(outside)

    async def loop() -> None:
        async with _stdio(project) as client:
            session = Session(client)
            listed = await client.list_tools()
            assert {tool.name for tool in listed.tools} >= TOOLS
            annotations = {tool.name: tool.annotations for tool in listed.tools}
            assert annotations["describe_api"].read_only_hint is True
            assert annotations["validate_declaration"].read_only_hint is False  # runs hooks
            assert annotations["apply_migrations"].destructive_hint is True

            fmt = await session.ok("declaration_format")
            assert "collections" in fmt["json_schema"]["properties"]
            assert "any(conversation.participants" in fmt["blueprints"]["chat"]

            # A broken declaration: every problem at once, with its line; nothing written.
            report = await session.ok("write_declaration", text=BROKEN)
            assert report["written"] is False and not (project / "backforge.yaml").exists()
            [problem] = report["problems"]
            assert problem["line"] == 6 and "did you mean 'text'" in problem["message"]
            assert problem["key"] == "collections.writers.fields.pen_name.type"
            report = await session.ok("validate_declaration", text=BROKEN_RULES)
            lines = sorted((p["line"], p["key"]) for p in report["problems"])
            assert lines == [
                (15, "collections.entries.rules.update"),
                (16, "collections.entries.rules.delete"),
            ]
            assert not (project / "backforge.yaml").exists()
            assert not [p for p in project.iterdir() if p.name.startswith(".")]

            report = await session.ok("write_declaration", text=FIXED)
            assert report["written"] is True and report["ok"] is True
            assert set(report["collections"]) == {"writers", "entries"}

            # Plan, then apply only when confirmed.
            plan = await session.ok("plan_migration")
            assert plan["planned"] and plan["plan_file"].startswith("migrations/")
            refusal = await session.refused("apply_migrations")
            assert "confirm=true" in refusal
            status = await session.ok("migration_status")
            assert status["applied"] == [] and len(status["pending"]) == 1
            applied = await session.ok("apply_migrations", confirm=True)
            assert applied["applied"] == status["pending"]

            # Serve, and call as two writers: each sees only their own entries.
            started = await session.ok("start_server")
            assert started["base_url"].startswith("http://127.0.0.1:")
            accounts = {}
            for name in ("ann", "bob"):
                accounts[name] = await session.ok(
                    "create_test_account",
                    collection="writers",
                    email=f"{name}@example.org",
                    password="a long pass phrase 42",
                    name=name,
                    fields={"pen_name": name.title()},
                )
            created = await session.ok(
                "call_api", method="POST", path="/api/entries", user="ann", body={"text": "hi"}
            )
            assert created["status"] == 201, created
            entry = created["body"]["id"]
            own = await session.ok(
                "call_api", method="GET", path=f"/api/entries/{entry}", user="ann"
            )
            other = await session.ok(
                "call_api", method="GET", path=f"/api/entries/{entry}", user="bob"
            )
            anonymous = await session.ok("call_api", method="GET", path="/api/entries")
            admin = await session.ok("call_api", method="GET", path="/api/entries", user="admin")
            assert own["status"] == 200 and own["body"]["text"] == "hi"
            assert other["status"] == 404
            assert anonymous["status"] in (401, 403) or anonymous["body"]["items"] == []
            assert [e["id"] for e in admin["body"]["items"]] == [entry]
            await session.refused("call_api", method="GET", path="/api/entries", user="carol")
            verdict = await session.ok(
                "explain_rule",
                collection="entries",
                operation="view",
                caller_id=accounts["bob"]["record"]["id"],
                caller_collection="writers",
                record_id=entry,
            )
            assert verdict["admitted"] is False and verdict["rule"] == "writer = auth.id"
            await session.refused("call_api", method="GET", path="http://example.org/")

            log = await session.ok("server_log", lines=200)
            assert '"route":"/api/entries/{id}"' in log.replace(" ", "")

            audit = await session.ok("run_audit", max_requests=300, max_seconds=90)
            assert audit["requests"] > 0
            assert all(f["severity"] for f in audit["findings"])

            # A hooks file outside the project is never imported; one that prints is fine.
            (tmp_path / "outside_hooks.py").write_text("open(__file__ + '.ran', 'w')\n")
            escaping = FIXED.replace("name: diary\n", "name: diary\nhooks: ../outside_hooks.py\n")
            report = await session.ok("validate_declaration", text=escaping)
            assert report["ok"] is False and "inside the project" in str(report["problems"])
            assert not (tmp_path / "outside_hooks.py.ran").exists()
            (project / "chatty_hooks.py").write_text("print('hello from the hooks')\n")
            chatty = FIXED.replace("name: diary\n", "name: diary\nhooks: chatty_hooks.py\n")
            assert (await session.ok("validate_declaration", text=chatty))["ok"] is True
            for file in (".", "migrations", "notes.txt"):
                text = await session.refused("validate_declaration", file=file, text=FIXED)
                assert "not a declaration file" in text
            assert not [p for p in tmp_path.iterdir() if p.name.startswith(".backforge")]

            # Paths outside the project are refused, through .. and through a link.
            for file in ("../outside.yaml", "linked.yaml", str(outside)):
                text = await session.refused("validate_declaration", file=file)
                assert "outside the project" in text
            await session.refused("write_declaration", text=FIXED, file="../escape.yaml")
            assert not (tmp_path / "escape.yaml").exists()

            stopped = await session.ok("stop_server")
            assert stopped["stopped"] is True
            await session.refused("call_api", method="GET", path="/api/entries")

    anyio.run(loop)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_streamable_http_on_loopback(tmp_path):
    (tmp_path / "backforge.yaml").write_text(FIXED)
    port = _free_port()
    token = "mcp-token-" + "x" * 24
    server = subprocess.Popen(  # the command as an agent's configuration would start it
        [sys.executable, "-m", "backforge", "mcp", str(tmp_path), "--http", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "BACKFORGE_MCP_TOKEN": token},
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert server.poll() is None, server.stderr.read().decode()
            time.sleep(0.2)

        url = f"http://127.0.0.1:{port}/mcp"
        initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
        for wrong in ({}, {"Authorization": "Bearer not-the-token"}):
            refused = httpx.post(url, json=initialize, headers=wrong, timeout=10)
            assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"

        async def calls() -> None:
            http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60)
            transport = streamable_http_client(url, http_client=http)
            async with http, Client(transport, read_timeout_seconds=60) as client:
                session = Session(client)
                assert {tool.name for tool in (await client.list_tools()).tools} >= TOOLS
                report = await session.ok("validate_declaration")
                assert report["ok"] is True and report["name"] == "diary"
                api = await session.ok("describe_api")
                paths = {(o["method"], o["path"]) for o in api["operations"]}
                assert ("GET", "/api/entries/{id}") in paths
                draft = await session.ok("validate_declaration", text=BROKEN)
                assert draft["ok"] is False
                assert (tmp_path / "backforge.yaml").read_text() == FIXED
                text = await session.refused("validate_declaration", file="/etc/hosts")
                assert "outside the project" in text
                listed = {str(r.uri) for r in (await client.list_resources()).resources}
                assert {"backforge://declaration", "backforge://docs/agents"} <= listed
                declaration = await client.read_resource("backforge://declaration")
                assert declaration.contents[0].text == FIXED
                guide = await client.read_resource("backforge://docs/python-api")
                assert "ctx.store" in guide.contents[0].text
                with pytest.raises(MCPError, match="Unknown resource"):
                    await client.read_resource("backforge://docs/../../etc/passwd")

        anyio.run(calls)
    finally:
        server.terminate()
        server.wait(timeout=20)
