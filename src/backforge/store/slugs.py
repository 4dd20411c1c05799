"""Slugs: a unique, URL-friendly text made from another field ("Hello, World!" -> hello-world,
then hello-world-2 when that is taken)."""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import Connection, Table, or_, select

from .ids import new_id

_NOT_WORD = re.compile(r"[^a-z0-9]+")
MAX_LENGTH = 100


def slugify(text: str, max_length: int = MAX_LENGTH) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = _NOT_WORD.sub("-", ascii_text.lower()).strip("-")
    return slug[:max_length].rstrip("-")


def unique_slug(
    connection: Connection,
    table: Table,
    field: str,
    source: str | None,
    max_length: int = MAX_LENGTH,
) -> str:
    """The slug of `source`, suffixed -2, -3... past the ones taken (a random one when the
    source has no letters or digits). Unique in the database too: a concurrent write that
    takes the same slug first makes this one a 409."""
    base = slugify(source or "", max(max_length, 1)) or new_id()
    column = table.c[field]
    taken = {
        row[0]
        for row in connection.execute(
            select(column).where(or_(column == base, column.like(f"{base}-%")))
        )
    }
    if base not in taken:
        return base
    suffix = 2
    while f"{base}-{suffix}" in taken:
        suffix += 1
    return f"{base}-{suffix}"
