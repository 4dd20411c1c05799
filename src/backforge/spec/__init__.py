"""The declaration: typed model, YAML loading with positions, semantic checks."""

from .errors import DeclarationError, Problem
from .loader import load_dict, load_file, load_text
from .model import Collection, Field, Rules, Settings, Spec

__all__ = [
    "Collection",
    "DeclarationError",
    "Field",
    "Problem",
    "Rules",
    "Settings",
    "Spec",
    "load_dict",
    "load_file",
    "load_text",
]
