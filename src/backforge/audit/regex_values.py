"""A string that matches a regular expression, for `pattern` in schemas (random but seeded)."""

from __future__ import annotations

import random
import re
import string

try:  # Python 3.11+
    from re import _constants as sre_constants
    from re import _parser as sre_parse
except ImportError:  # pragma: no cover
    import sre_constants  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

CATEGORIES = {
    sre_constants.CATEGORY_DIGIT: string.digits,
    sre_constants.CATEGORY_WORD: string.ascii_letters + string.digits + "_",
    sre_constants.CATEGORY_SPACE: " ",
    sre_constants.CATEGORY_NOT_DIGIT: string.ascii_letters,
    sre_constants.CATEGORY_NOT_WORD: "-",
    sre_constants.CATEGORY_NOT_SPACE: string.ascii_letters + string.digits,
}
PRINTABLE = string.ascii_letters + string.digits


def matching_string(pattern: str, seed: int) -> str | None:
    """A string matching `pattern` (search semantics, as JSON Schema), or None if unsupported."""
    try:
        parsed = sre_parse.parse(pattern)
    except re.error:
        return None
    rng = random.Random(seed)
    for _ in range(5):
        try:
            text = _emit(parsed, rng)
        except _Unsupported:
            return None
        if re.search(pattern, text):
            return text
    return None


class _Unsupported(Exception):
    pass


def _set_chars(items: list) -> str:
    chars: list[str] = []
    negate = False
    for op, av in items:
        if op is sre_constants.NEGATE:
            negate = True
        elif op is sre_constants.LITERAL:
            chars.append(chr(av))
        elif op is sre_constants.RANGE:
            low, high = av
            chars.extend(chr(c) for c in range(low, min(high, low + 200) + 1))
        elif op is sre_constants.CATEGORY:
            chars.extend(CATEGORIES.get(av, PRINTABLE))
    if negate:
        return "".join(c for c in PRINTABLE if c not in chars) or "x"
    return "".join(chars)


def _emit(parsed: object, rng: random.Random) -> str:
    out: list[str] = []
    for op, av in parsed:  # type: ignore[attr-defined]
        if op is sre_constants.LITERAL:
            out.append(chr(av))
        elif op is sre_constants.NOT_LITERAL:
            out.append(next(c for c in PRINTABLE if ord(c) != av))
        elif op is sre_constants.ANY:
            out.append(rng.choice(PRINTABLE))
        elif op is sre_constants.IN:
            out.append(rng.choice(_set_chars(av)))
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
            low, high, sub = av
            high = low + 6 if high is sre_constants.MAXREPEAT else high
            count = rng.randint(low, max(low, min(high, low + 6)))
            out.extend(_emit(sub, rng) for _ in range(count))
        elif op is sre_constants.SUBPATTERN:
            out.append(_emit(av[-1], rng))
        elif op is sre_constants.BRANCH:
            out.append(_emit(rng.choice(av[1]), rng))
        elif op is sre_constants.AT:
            continue
        else:
            raise _Unsupported(str(op))
    return "".join(out)
