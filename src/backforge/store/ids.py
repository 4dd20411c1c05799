"""Record ids: 15 characters of [a-z0-9] from the OS's CSPRNG (~77 bits), never sequential."""

from __future__ import annotations

import os
import re

ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
LENGTH = 15
ID_PATTERN = re.compile(r"^[a-z0-9]{15}$")


# Bytes below this map evenly onto the alphabet (252 = 7 x 36); the others are skipped.
_UNBIASED = 256 - 256 % len(ALPHABET)
# Each random byte's character, and the bytes to drop, for one bytes.translate call.
_CHARACTER_OF = bytes(ord(ALPHABET[b % len(ALPHABET)]) for b in range(256))
_BIASED = bytes(range(_UNBIASED, 256))


def new_id() -> str:
    chars = b""
    while len(chars) < LENGTH:
        chars += os.urandom(2 * LENGTH).translate(_CHARACTER_OF, _BIASED)
    return chars[:LENGTH].decode("ascii")


def is_valid_id(value: str) -> bool:
    return ID_PATTERN.fullmatch(value) is not None  # `$` would admit a trailing newline
