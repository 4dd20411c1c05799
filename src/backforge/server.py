"""Process entry for `backforge serve`: the app factory that each server worker calls."""

from __future__ import annotations

import gc
import os
import sys

from .app import App
from .spec import DeclarationError

DECLARATION_VARIABLE = "BACKFORGE_DECLARATION"


def app_from_environment() -> App:
    """Build the app named by BACKFORGE_DECLARATION (set by `backforge serve` for its workers)."""
    path = os.environ[DECLARATION_VARIABLE]
    try:
        app = App.from_file(path)
    except DeclarationError as exc:
        # `serve` checked the declaration before starting; it (or its hooks file) has changed
        # since. Said as `check` says it, not as a traceback.
        for problem in exc.problems:
            print(problem.format(exc.filename), file=sys.stderr)
        raise SystemExit(1) from None
    # What start-up built lives as long as the process: the collector need not look at it again
    # (its garbage is collected first, or it would be kept for good).
    gc.collect()
    gc.freeze()
    return app


def main(argv: list[str]) -> None:
    """`python -P -m backforge.server HOST PORT WORKERS SHUTDOWN_SECONDS [FORWARDED_ALLOW_IPS]`:
    what `backforge serve` execs after its checks, so that the server runs in an interpreter
    holding only what it needs. FORWARDED_ALLOW_IPS is comma-separated; empty: none.
    """
    import uvicorn

    from .server_protocol import HttpProtocol

    host, port, workers, shutdown_seconds, *rest = argv
    trusted = [entry for entry in (rest[0] if rest else "").split(",") if entry]
    uvicorn.run(
        "backforge.server:app_from_environment",
        factory=True,
        http=HttpProtocol,
        host=host,
        port=int(port),
        workers=int(workers),
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
