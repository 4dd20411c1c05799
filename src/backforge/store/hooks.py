"""Python hooks that run inside a write's transaction, and the store they see there."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from .caller import Caller
from .errors import HookFailed, StoreError
from .events import WriteEvent

if TYPE_CHECKING:
    from .records import RecordStore

logger = logging.getLogger("backforge.hooks")
Hook = Callable[["HookContext"], None]
Register = Callable[[Hook], Hook]
Operation = Literal["create", "update", "delete"]
MOMENTS = ("before", "after", "after_commit")
SYSTEM = Caller(id="system", is_admin=True, method="system")


class Hooks:
    """A registry a hooks module fills with decorators:

    hooks = Hooks()

    @hooks.before_create("order_items")
    def check_stock(ctx): ...
    """

    def __init__(self) -> None:
        self._handlers: dict[tuple[str, str, str], list[Hook]] = defaultdict(list)

    def _register(
        self, moment: str, operation: Operation, collections: tuple[str, ...]
    ) -> Register:
        if operation not in ("create", "update", "delete"):
            raise ValueError(f"hooks run on create, update or delete, not {operation!r}")

        def decorator(function: Hook) -> Hook:
            for collection in collections:
                self._handlers[(moment, operation, collection)].append(function)
            return function

        return decorator

    def before_create(self, *collections: str) -> Register:
        return self._register("before", "create", collections)

    def before_update(self, *collections: str) -> Register:
        return self._register("before", "update", collections)

    def before_delete(self, *collections: str) -> Register:
        return self._register("before", "delete", collections)

    def after_create(self, *collections: str) -> Register:
        return self._register("after", "create", collections)

    def after_update(self, *collections: str) -> Register:
        return self._register("after", "update", collections)

    def after_delete(self, *collections: str) -> Register:
        return self._register("after", "delete", collections)

    def after_commit(self, operation: Operation, *collections: str) -> Register:
        """Runs once the transaction has committed (never for a rolled-back write)."""
        return self._register("after_commit", operation, collections)

    def after_commit_create(self, *collections: str) -> Register:
        return self._register("after_commit", "create", collections)

    def after_commit_update(self, *collections: str) -> Register:
        return self._register("after_commit", "update", collections)

    def after_commit_delete(self, *collections: str) -> Register:
        return self._register("after_commit", "delete", collections)

    def collections(self) -> set[str]:
        return {collection for (_, _, collection) in self._handlers}

    def wants(self, operation: str, collection: str) -> bool:
        return any((m, operation, collection) in self._handlers for m in MOMENTS)

    def run(self, moment: str, event: WriteEvent, store: RecordStore) -> None:
        for hook in self._handlers.get((moment, event.operation, event.collection), ()):
            context = HookContext(event, store)
            try:
                hook(context)
            except StoreError:
                raise
            except Exception as exc:
                logger.exception(
                    "hook %s failed on %s %s", hook.__name__, event.operation, event.collection
                )
                raise HookFailed(
                    f"a hook of {event.collection} failed; nothing was written"
                ) from exc


class HookContext:
    """What a hook receives: the write (change `values` in a before-hook), the caller, and
    the store bound to the transaction — with the caller's rules (`store`) or none (`system`)."""

    def __init__(self, event: WriteEvent, store: RecordStore):
        self.event = event
        self.collection = event.collection
        self.operation = event.operation
        self.caller = event.caller
        self.values = event.values
        self.record = event.record
        self.old = event.old
        from .bound import BoundStore

        self.store = BoundStore(store, event.caller)
        self.system = BoundStore(store, SYSTEM)
