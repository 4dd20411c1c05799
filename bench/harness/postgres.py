"""The machine's PostgreSQL for the servers that use it: a database of their own, made afresh."""

from __future__ import annotations

import subprocess
from pathlib import Path

# Made with psycopg from backforge's own virtualenv (the peers' one has only asyncpg).
_RECREATE = """
import sys, psycopg
from psycopg import sql
for user in ('root', 'postgres'):
    try:
        c = psycopg.connect(f'postgresql://{user}@127.0.0.1:5432/postgres',
                            autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        continue
    name = sql.Identifier(sys.argv[1])
    c.execute(sql.SQL('DROP DATABASE IF EXISTS {} WITH (FORCE)').format(name))
    c.execute(sql.SQL('CREATE DATABASE {}').format(name))
    print(user)
    break
"""


def recreate_database(python: Path, name: str) -> str | None:
    """Drop and create database `name` on 127.0.0.1:5432; the user that could, or None
    (the error is in the exception raised by `check`)."""
    out = subprocess.run(
        [str(python), "-c", _RECREATE, name], capture_output=True, text=True, timeout=60
    )
    user = out.stdout.strip()
    if out.returncode != 0 or not user:
        raise RuntimeError(f"no PostgreSQL at 127.0.0.1:5432: {out.stderr[-300:]}")
    return user
