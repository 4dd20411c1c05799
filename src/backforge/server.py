"""Process entry for `backforge serve`: the app factory that each server worker calls."""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path
from typing import Any

from .app import App
from .spec import DeclarationError

DECLARATION_VARIABLE = "BACKFORGE_DECLARATION"
# Set by `serve --reload` (on by default with --dev): restart on changes beside the declaration.
RELOAD_VARIABLE = "BACKFORGE_SERVE_RELOAD"
# Set by `serve --dev`: each restart applies the schema changes that lose nothing first.
DEV_VARIABLE = "BACKFORGE_SERVE_DEV"
# The files beside the declaration whose change reloads the server: the declaration, the
# hooks module and its neighbours, templates; never the database files there.
RELOAD_PATTERNS = ["*.yaml", "*.yml", "*.py", "*.html", "*.jinja", "*.j2"]


# The largest WebSocket message a client may send (a subscription, a GraphQL document).
WS_MAX_MESSAGE = 1_048_576


def app_from_environment() -> Any:
    """Build the app named by BACKFORGE_DECLARATION (set by `backforge serve` for its workers)."""
    path = os.environ[DECLARATION_VARIABLE]
    if os.environ.get(RELOAD_VARIABLE) == "1":
        return _reloaded_app(path, migrate=os.environ.get(DEV_VARIABLE) == "1")
    try:
        app = App.from_file(path)
    except DeclarationError as exc:
        # `serve` checked the declaration before starting; it (or its hooks file) has changed
        # since. Said as `check` says it, not as a traceback.
        print(_problems_text(exc), file=sys.stderr)
        raise SystemExit(1) from None
    # What start-up built lives as long as the process: the collector need not look at it again
    # (its garbage is collected first, or it would be kept for good).
    gc.collect()
    gc.freeze()
    return app


def _reloaded_app(path: str, migrate: bool) -> Any:
    """Each start under `serve --reload`: the checks of `backforge check` (problems with their
    lines), then, with `migrate` (--dev), the schema brought up to the declaration when no
    data is at stake. What stops it is printed, and every request answers it (503) until the
    next save fixes it."""
    from .checks import load_checked
    from .database import create_database_engine, database_url
    from .extras import MissingExtra
    from .schema.migrations import (
        FIX_COMMAND,
        MigrationError,
        auto_apply,
        pending_changes,
        summarize,
    )

    engine = None
    try:
        spec, _ = load_checked(path)
        engine = create_database_engine(database_url(path, spec.name))
        if migrate:
            line = summarize(auto_apply(engine, spec))
            if line:
                print(f"migrated: {line}", flush=True)
        pending = pending_changes(engine, spec)
        if not pending:
            return App(spec, engine, declaration_path=path)
        text = "the database is behind the declaration: " + "; ".join(map(str, pending))
        text += f" (fix: {FIX_COMMAND.replace('FILE', path)})"
    except DeclarationError as exc:
        text = _problems_text(exc)
    except (MigrationError, MissingExtra) as exc:
        text = str(exc)
    if engine is not None:
        engine.dispose()
    print(text, file=sys.stderr, flush=True)
    return _unservable(text)


def _problems_text(exc: DeclarationError) -> str:
    return "\n".join(problem.format(exc.filename) for problem in exc.problems)


def _unservable(text: str) -> Any:
    """An ASGI app answering every request with why the declaration cannot be served (only
    under --reload, a development server: the text names its own files)."""
    import orjson

    problem = {
        "type": "urn:backforge:problem:unavailable",
        "title": "The declaration cannot be served",
        "status": 503,
    }
    # The text names files, SQL and what a hooks file raised: for the developer's own machine
    # only; another client learns that the server's log says why.
    local = orjson.dumps({**problem, "detail": text})
    remote = orjson.dumps({**problem, "detail": "see the server's log"})
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"retry-after", b"2"),
        (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff"),
    ]

    async def answer(scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await receive()  # startup
            await send({"type": "lifespan.startup.complete"})
            await receive()  # shutdown
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        client = (scope.get("client") or ("",))[0]
        body = local if client in ("127.0.0.1", "::1") else remote
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return answer


def main(argv: list[str]) -> None:
    """`python -P -m backforge.server HOST PORT WORKERS SHUTDOWN_SECONDS [FORWARDED_ALLOW_IPS]`:
    what `backforge serve` execs after its checks, so that the server runs in an interpreter
    holding only what it needs. FORWARDED_ALLOW_IPS is comma-separated; empty: none. With
    BACKFORGE_SERVE_RELOAD=1 it reloads on changes beside the declaration (one worker).
    """
    import uvicorn

    from .server_protocol import HttpProtocol

    host, port, workers, shutdown_seconds, *rest = argv
    trusted = [entry for entry in (rest[0] if rest else "").split(",") if entry]
    reload = os.environ.get(RELOAD_VARIABLE) == "1"
    uvicorn.run(
        "backforge.server:app_from_environment",
        factory=True,
        http=HttpProtocol,
        ws="wsproto",  # the WebSocket library of the core install
        ws_max_size=WS_MAX_MESSAGE,  # a realtime or GraphQL message is small; 16 MiB by default
        host=host,
        port=int(port),
        workers=None if reload else int(workers),
        reload=reload,
        reload_dirs=[str(Path(os.environ[DECLARATION_VARIABLE]).parent)] if reload else None,
        reload_includes=RELOAD_PATTERNS if reload else None,
        log_level="warning",
        access_log=False,  # backforge writes its own access log
        server_header=False,
        date_header=True,
        # In-flight requests finish (up to this long) after SIGTERM; new ones are refused.
        timeout_graceful_shutdown=int(shutdown_seconds),
        # uvicorn believes X-Forwarded-* from 127.0.0.1 unless told otherwise: only from the
        # proxies of server.forwarded_allow_ips, and from nobody when there are none.
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or [],
    )


if __name__ == "__main__":
    main(sys.argv[1:])
