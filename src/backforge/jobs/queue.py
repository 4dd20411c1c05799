"""The Huey instance: SQLite storage beside the declaration, or Redis when REDIS_URL is set."""

from __future__ import annotations

import os
from pathlib import Path

from huey import Huey, RedisHuey, SqliteHuey

from ..extras import require


def create_huey(name: str, declaration_path: str | Path | None) -> Huey:
    redis_url = os.environ.get("REDIS_URL")
    queue_name = f"backforge.{name}"
    if redis_url:
        require("redis", "jobs on Redis (REDIS_URL)")
        return RedisHuey(queue_name, url=redis_url, results=False, utc=True)
    folder = Path(declaration_path).resolve().parent if declaration_path else Path.cwd()
    filename = os.environ.get("BACKFORGE_JOBS_DB") or str(folder / f"{name}.jobs.db")
    return SqliteHuey(queue_name, filename=filename, results=False, utc=True)


def env_seconds(variable: str, default: float) -> float:
    """A duration setting of the jobs system, in seconds, from the environment."""
    value = os.environ.get(variable)
    return float(value) if value else default


def storage_kind(huey: Huey) -> str:
    return "redis" if isinstance(huey, RedisHuey) else "sqlite"
