"""Optional parts of the install: what a feature needs beyond the core (SQLite) install, and
the message that names the extra to add when it is missing.

    pip install 'backforge[postgres]'   # or [redis], [jobs], [oauth], [audit], [mcp], [s3],
                                        # [images], [all]
"""

from __future__ import annotations

import importlib.util

from .spec.errors import Problem
from .spec.model import Spec

# extra -> the modules it installs
EXTRAS = {
    "postgres": ("psycopg", "asyncpg", "greenlet"),
    "redis": ("redis",),
    "jobs": ("huey", "httpx"),
    "oauth": ("authlib", "cryptography", "httpx"),
    "audit": ("httpx", "rich", "schemathesis"),
    "mcp": ("mcp", "httpx"),
    "s3": ("boto3",),
    "images": ("PIL",),
}


class MissingExtra(RuntimeError):
    """A feature in use needs an extra that is not installed."""


def missing(extra: str) -> bool:
    return any(importlib.util.find_spec(module) is None for module in EXTRAS[extra])


def require(extra: str, feature: str) -> None:
    """MissingExtra naming the pip command, when `feature` needs `extra` and it is absent."""
    if missing(extra):
        raise MissingExtra(f"{feature} needs the '{extra}' extra: pip install 'backforge[{extra}]'")


def declaration_problems(spec: Spec) -> list[Problem]:
    """What the declaration uses that this install lacks, said by `check` with its place."""
    problems = []
    if (spec.jobs or spec.cron or spec.webhooks) and missing("jobs"):
        section = "jobs" if spec.jobs else "cron" if spec.cron else "webhooks"
        text = "jobs, cron and webhooks need the 'jobs' extra: pip install 'backforge[jobs]'"
        problems.append(Problem((section,), text))
    for name, collection in spec.collections.items():
        options = collection.auth_options
        if options is not None and options.oauth and missing("oauth"):
            text = "OAuth login providers need the 'oauth' extra: pip install 'backforge[oauth]'"
            problems.append(Problem(("collections", name, "auth", "oauth"), text))
        for field_name, field in collection.fields.items():
            if field.thumbs and missing("images"):
                text = "thumbnails need the 'images' extra: pip install 'backforge[images]'"
                place = ("collections", name, "fields", field_name, "thumbs")
                problems.append(Problem(place, text))
    if spec.server.files.storage == "s3" and missing("s3"):
        text = "storage: s3 needs the 's3' extra: pip install 'backforge[s3]'"
        problems.append(Problem(("server", "files", "storage"), text))
    return problems
