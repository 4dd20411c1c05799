"""Stored file names: readable, unguessable, and safe as a path segment and an object key."""

from __future__ import annotations

import re
import secrets
import string
from pathlib import PurePosixPath

# A stem from the uploaded name, a random suffix, the extension its content showed.
STORED_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}_[a-z0-9]{10}(\.[a-z0-9]{1,10})?$")
_ALPHABET = string.ascii_lowercase + string.digits


def stored_name(filename: str | None, extension: str) -> str:
    stem = PurePosixPath((filename or "").replace("\\", "/")).stem.lower()
    stem = re.sub(r"[^a-z0-9]+", "-", stem).strip("-")[:40].strip("-") or "file"
    suffix = "".join(secrets.choice(_ALPHABET) for _ in range(10))
    return f"{stem}_{suffix}" + (f".{extension}" if extension else "")


def is_stored_name(value: object) -> bool:
    return isinstance(value, str) and STORED_NAME.match(value) is not None
