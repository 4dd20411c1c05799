"""Business logic in plain Python: hooks inside the write transaction, custom endpoints.

A hooks module named in the declaration (`hooks: shop_hooks.py`) defines either or both:

    from backforge.hooks import Endpoints, HookError, Hooks

    hooks = Hooks()
    endpoints = Endpoints()
"""

from .http.custom import EndpointContext, Endpoints
from .http.endpoint_io import UploadedFile
from .jobs.context import JobContext
from .store.bound import BoundStore
from .store.caller import Caller
from .store.errors import Refused as HookError
from .store.events import WriteEvent
from .store.hooks import HookContext, Hooks
from .store.records import Page

__all__ = [
    "BoundStore",
    "Caller",
    "EndpointContext",
    "Endpoints",
    "HookContext",
    "HookError",
    "Hooks",
    "JobContext",
    "Page",
    "UploadedFile",
    "WriteEvent",
]
