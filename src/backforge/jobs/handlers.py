"""Handlers named in the declaration (`shop_hooks.send_receipt`), found in the hooks module."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from types import ModuleType
from typing import Any

from ..spec.errors import Problem
from ..spec.model import Spec


class HandlerError(Exception):
    """A declared handler cannot be found."""


def resolve_handlers(spec: Spec, module: ModuleType | None) -> dict[str, Callable]:
    """Every job's and cron entry's handler, by entry name; errors name the entry."""
    entries = {**spec.jobs, **spec.cron}
    if not entries:
        return {}
    if module is None:
        raise HandlerError("the declaration names handlers but no hooks module (`hooks:`)")
    handlers = {}
    for name, entry in entries.items():
        function_name = entry.handler.split(".", 1)[1]
        function = getattr(module, function_name, None)
        if not callable(function):
            raise HandlerError(f"{name}: {module.__name__} defines no function '{function_name}'")
        handlers[name] = function
    return handlers


def missing_handlers(spec: Spec, module: ModuleType | None) -> list[Problem]:
    """Each job or cron entry whose handler the hooks module does not define: said by `check`
    and at start-up, not when a worker first runs the entry."""
    if module is None:
        return []  # `check_jobs` says that handlers need `hooks:`
    problems = []
    for section, entries in (("jobs", spec.jobs), ("cron", spec.cron)):
        for name, entry in entries.items():
            function_name = entry.handler.split(".", 1)[1]
            if not callable(getattr(module, function_name, None)):
                text = f"{module.__name__} defines no function '{function_name}'"
                problems.append(Problem((section, name, "handler"), text))
    return problems


def call(handler: Callable, context: Any) -> Any:
    """Run a handler, sync or async, to completion in this thread."""
    if inspect.iscoroutinefunction(handler):
        return asyncio.run(handler(context))
    result = handler(context)
    if inspect.isawaitable(result):
        return asyncio.run(_awaited(result))
    return result


async def _awaited(awaitable):
    return await awaitable
