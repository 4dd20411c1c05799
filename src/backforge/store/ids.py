"""Record ids: 15 characters of [a-z0-9] from the OS's CSPRNG (~77 bits), never sequential."""

from __future__ import annotations

import os
import re

ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
LENGTH = 15
ID_PATTERN = re.compile(r"^[a-z0-9]{15}$")


# Bytes below this map evenly onto the alphabet (252 = 7 x 36); the others are skipped.
_UNBIASED = 256 - 256 % len(ALPHABET)


def new_id() -> str:
    chars: list[str] = []
    while len(chars) < LENGTH:
        chars += [ALPHABET[b % len(ALPHABET)] for b in os.urandom(2 * LENGTH) if b < _UNBIASED]
    return "".join(chars[:LENGTH])


def is_valid_id(value: str) -> bool:
    return bool(ID_PATTERN.match(value))
