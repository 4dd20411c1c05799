"""`backforge mcp --http`: the streamable HTTP transport on 127.0.0.1, behind a bearer token.

The tools write declarations, run the project's hooks file and call the API as admin, so a
port any local program (or a web page, through DNS rebinding) could reach must not answer
without the token. The SDK's own DNS-rebinding guard stays on as well.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

import uvicorn
from mcp.server.mcpserver import MCPServer

Scope = dict[str, Any]


class RequireToken:
    """Every HTTP request must carry `Authorization: Bearer <token>` (compared in constant
    time); the lifespan passes through, so the transport's session manager starts."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not self._authorized(scope):
            body = json.dumps({"error": "send Authorization: Bearer <BACKFORGE_MCP_TOKEN>"})
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"www-authenticate", b"Bearer"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body.encode()})
            return
        await self.app(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        given = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        return hmac.compare_digest(given, self.expected)


def serve_streamable_http(server: MCPServer, port: int, token: str) -> None:
    app = RequireToken(server.streamable_http_app(), token)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
