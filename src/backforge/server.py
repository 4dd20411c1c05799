"""Process entry for `backforge serve`: the app factory that each server worker calls."""

from __future__ import annotations

import os

from .app import App

DECLARATION_VARIABLE = "BACKFORGE_DECLARATION"


def app_from_environment() -> App:
    """Build the app named by BACKFORGE_DECLARATION (set by `backforge serve` for its workers)."""
    return App.from_file(os.environ[DECLARATION_VARIABLE])
