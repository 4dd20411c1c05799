"""Loading the Python module a declaration names (`hooks: shop_hooks.py`)."""

from __future__ import annotations

import importlib.util
import re
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from .spec import DeclarationError, Problem, Spec
from .spec.errors import did_you_mean
from .spec.routes import split_route_key

_STAMP = "__backforge_mtime__"


def load_hooks_module(spec: Spec, declaration_path: str | Path | None) -> ModuleType | None:
    """Import the hooks file (relative to the declaration) under its own name, so that handlers
    can be named `shop_hooks.send_receipt` and the module can import its neighbours."""
    if spec.hooks is None:
        return None
    folder = Path(declaration_path).resolve().parent if declaration_path else Path.cwd()
    path = folder / spec.hooks
    filename = str(declaration_path or "<declaration>")
    if not path.is_file():
        raise DeclarationError(filename, [Problem(("hooks",), f"no such file: {path}")])
    name = path.stem
    stamp = path.stat().st_mtime_ns
    loaded = sys.modules.get(name)
    # The module already imported from this file, unless the file has changed since.
    if getattr(loaded, "__file__", None) == str(path) and getattr(loaded, _STAMP, None) == stamp:
        return loaded
    module_spec = importlib.util.spec_from_file_location(name, path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    setattr(module, _STAMP, stamp)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        where = f"{path.name}:{line}" if (line := _failing_line(exc, path)) else path.name
        raise DeclarationError(
            filename, [Problem(("hooks",), f"{where} failed to import: {exc!r}")]
        ) from exc
    return module


def _failing_line(exc: BaseException, path: Path) -> int | None:
    """The line of the hooks file where its import failed (the innermost frame in it)."""
    if isinstance(exc, SyntaxError) and exc.filename == str(path):
        return exc.lineno
    line = None
    for frame, number in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == str(path):
            line = number
    return line


def user_code_problems(spec: Spec, module: ModuleType | None) -> list[Problem]:
    """What the hooks module must agree on with the declaration: hooks for collections that
    exist, handlers for every job and cron entry, endpoints that can work and that take no
    declared route. Checked by `backforge check` and at start-up alike."""
    from .http.custom import check_endpoints
    from .jobs.handlers import missing_handlers
    from .store.hooks import Hooks

    hooks = getattr(module, "hooks", None) or Hooks()
    endpoints = getattr(module, "endpoints", None)
    problems = []
    for unknown in sorted(hooks.collections() - set(spec.collections)):
        text = f"a hook names an unknown collection '{unknown}'"
        problems.append(Problem(("hooks",), text + did_you_mean(unknown, spec.collections)))
    problems += missing_handlers(spec, module)
    if endpoints is not None:
        problems += _route_clashes(spec, endpoints)
        problems += [Problem(("hooks",), text) for text in check_endpoints(endpoints)]
    return problems


def _route_clashes(spec: Spec, endpoints: Any) -> list[Problem]:
    """A declared route and a custom endpoint may not take the same method and path."""
    taken = {(e.method, _template(e.path)) for e in endpoints.routes}
    clashes = []
    for key in spec.routes:
        parsed = split_route_key(key)
        if parsed is not None and (parsed[0], _template(parsed[1])) in taken:
            message = "a custom endpoint of the hooks module takes this route too"
            clashes.append(Problem(("routes", key), message))
    return clashes


def _template(path: str) -> str:
    """A path with its parameters unnamed: /x/{id} and /x/{pk:int} are one route."""
    return re.sub(r"\{[^}]*\}", "{}", path.rstrip("/") or "/")
