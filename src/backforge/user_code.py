"""Loading the Python module a declaration names (`hooks: shop_hooks.py`)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from .spec import DeclarationError, Problem, Spec


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
    if name in sys.modules and getattr(sys.modules[name], "__file__", None) == str(path):
        return sys.modules[name]
    module_spec = importlib.util.spec_from_file_location(name, path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise DeclarationError(
            filename, [Problem(("hooks",), f"{path.name} failed to import: {exc!r}")]
        ) from exc
    return module
