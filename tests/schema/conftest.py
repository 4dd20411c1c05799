"""Fixtures for migration tests (helpers live in migration_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from migration_helpers import Migrator


@pytest.fixture
def migrations_dir(tmp_path) -> Path:
    return tmp_path / "migrations"


@pytest.fixture
def migrator(db_engine, migrations_dir) -> Migrator:
    return Migrator(db_engine, migrations_dir)
