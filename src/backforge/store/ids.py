"""Record ids: 15 characters of [a-z0-9] from the OS's CSPRNG (~77 bits), never sequential."""

from __future__ import annotations

import re
import secrets

ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
LENGTH = 15
ID_PATTERN = re.compile(r"^[a-z0-9]{15}$")


def new_id() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def is_valid_id(value: str) -> bool:
    return bool(ID_PATTERN.match(value))
