"""Work done after the answer: what would make an answer's timing tell whether an account exists
(looking it up, issuing a token, handing a mail over) runs here instead of on the request."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

logger = logging.getLogger("backforge.auth")
MAX_PENDING = 1000  # beyond it (a flood of requests) new work is dropped, and logged


class Background:
    """One worker thread, taking work in order; a failure is logged, never answered."""

    def __init__(self, name: str = "backforge-auth") -> None:
        self.name = name
        self._executor: ThreadPoolExecutor | None = None  # started by the first piece of work
        self._pending: set[Future] = set()
        self._lock = threading.Lock()

    def submit(self, function: Callable[..., Any], *args: Any) -> None:
        with self._lock:
            if len(self._pending) >= MAX_PENDING:
                logger.warning("%s: %d pieces of work wait; dropped one", self.name, MAX_PENDING)
                return
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix=self.name)
            future = self._executor.submit(_logged, function, *args)
            self._pending.add(future)
        future.add_done_callback(self._done)

    def wait(self, timeout: float | None = None) -> None:
        """Return once the work submitted so far is done (tests, a graceful stop)."""
        with self._lock:
            pending = list(self._pending)
        wait(pending, timeout)

    def _done(self, future: Future) -> None:
        with self._lock:
            self._pending.discard(future)


def _logged(function: Callable[..., Any], *args: Any) -> None:
    try:
        function(*args)
    except Exception:
        logger.exception("background work %s failed", getattr(function, "__name__", function))
