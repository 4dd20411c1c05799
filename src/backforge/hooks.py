"""Business logic in plain Python: hooks inside the write transaction, custom endpoints.

A hooks module named in the declaration (`hooks: shop_hooks.py`) defines either or both:

    from backforge.hooks import Endpoints, HookError, Hooks

    hooks = Hooks()
    endpoints = Endpoints()
"""

from .http.custom import EndpointContext, Endpoints
from .store.errors import Refused as HookError
from .store.hooks import HookContext, Hooks

__all__ = ["EndpointContext", "Endpoints", "HookContext", "HookError", "Hooks"]
