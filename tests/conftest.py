"""Shared database fixtures: every database test runs on SQLite and on PostgreSQL.

Fixtures:
- ``db_url``: a URL for a fresh, empty database, parametrized ``sqlite`` (a file in tmp_path) and
  ``postgres`` (a new schema in database ``test`` on 127.0.0.1:5432, dropped at teardown).
- ``db_engine``: an engine from ``backforge.database.create_database_engine(db_url)``, disposed
  at teardown.
- ``sqlite_url`` / ``postgres_url``: the same, for tests that need one database only.

PostgreSQL is found at ``BACKFORGE_TEST_POSTGRES_URL`` or else 127.0.0.1:5432/test as user root or
postgres. When it is unreachable the PostgreSQL variants are skipped, unless
``BACKFORGE_REQUIRE_SERVICES=1`` (CI), in which case they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from backforge.database import create_database_engine, normalize_url

_POSTGRES_CANDIDATES = (
    "postgresql://root@127.0.0.1:5432/test",
    "postgresql://postgres@127.0.0.1:5432/test",
)


def _services_required() -> bool:
    return os.environ.get("BACKFORGE_REQUIRE_SERVICES") == "1"


def _plain_libpq_url(url: str) -> str:
    """psycopg.connect wants postgresql://, not SQLAlchemy's postgresql+psycopg://."""
    return (
        make_url(normalize_url(url))
        .set(drivername="postgresql")
        .render_as_string(hide_password=False)
    )


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """The URL of a reachable PostgreSQL server (admin connection), or skip/fail."""
    explicit = os.environ.get("BACKFORGE_TEST_POSTGRES_URL")
    candidates = [explicit] if explicit else list(_POSTGRES_CANDIDATES)
    errors = []
    for url in candidates:
        try:
            with psycopg.connect(_plain_libpq_url(url), connect_timeout=3, autocommit=True):
                return url
        except psycopg.Error as exc:
            errors.append(f"{url}: {str(exc).strip()}")
    reason = "PostgreSQL is not reachable (" + "; ".join(errors) + ")"
    if _services_required():
        pytest.fail(reason + " and BACKFORGE_REQUIRE_SERVICES=1")
    pytest.skip(reason)


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh schema per test; the engine's search_path points at it."""
    schema = "bf_test_" + uuid.uuid4().hex[:12]
    admin_url = _plain_libpq_url(postgres_server_url)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    url = make_url(normalize_url(postgres_server_url)).update_query_dict(
        {"options": f"-csearch_path={schema}", "application_name": schema}
    )
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            # Connections a test left open would block the DROP; end them first.
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE pid <> pg_backend_pid() AND application_name = %s",
                (schema,),
            )
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request) -> str:
    """A fresh empty database URL, once on SQLite and once on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def db_engine(db_url: str) -> Iterator[Engine]:
    engine = create_database_engine(db_url)
    try:
        yield engine
    finally:
        engine.dispose()
