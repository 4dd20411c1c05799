"""What a file field may declare: sizes, media types and thumbnail sizes, and their defaults."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from .errors import Problem
from .model import Field

DEFAULT_MAX_SIZE = 10 * 1024 * 1024
DEFAULT_MAX_FILES = 10
# "100x100" (cropped to fill), "200x0" / "0x200" (one side, the other kept in proportion),
# "300x300f" (fitted inside, nothing cut).
THUMB_SIZE = re.compile(r"^([0-9]{1,4})x([0-9]{1,4})(f?)$")
MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9.+-]*/(\*|[a-z0-9][a-z0-9.+-]*)$")


@dataclass(frozen=True)
class Thumb:
    width: int
    height: int
    fit: bool  # inside the box, nothing cut; else the box is filled and the rest cut

    @classmethod
    def parse(cls, size: str) -> Thumb | None:
        match = THUMB_SIZE.match(size)
        if match is None:
            return None
        width, height = int(match.group(1)), int(match.group(2))
        if width == 0 and height == 0:
            return None
        return cls(width, height, bool(match.group(3)))


def max_size(field: Field) -> int:
    return field.max_size or DEFAULT_MAX_SIZE


def max_files(field: Field) -> int:
    if not field.multiple:
        return 1
    return field.max_files or DEFAULT_MAX_FILES


def accepts(field: Field, media_type: str) -> bool:
    """Whether a file whose content is `media_type` may be stored in the field."""
    if not field.accept:
        return True
    major = media_type.split("/", 1)[0]
    return any(entry in (media_type, f"{major}/*", "*/*") for entry in field.accept)


def file_field_problems(field: Field, path: tuple) -> Iterator[Problem]:
    if field.unique or field.index:
        yield Problem((*path, "unique" if field.unique else "index"), "a file field has no index")
    if field.max_files is not None and not field.multiple:
        yield Problem((*path, "max_files"), "max_files applies with multiple: true")
    for position, entry in enumerate(field.accept or ()):
        if not MEDIA_TYPE.match(entry):
            yield Problem(
                (*path, "accept", position),
                f"'{entry}' is not a media type such as image/png, image/* or application/pdf",
            )
    for position, size in enumerate(field.thumbs or ()):
        if Thumb.parse(size) is None:
            yield Problem(
                (*path, "thumbs", position),
                f"'{size}' is not a thumbnail size such as 100x100, 200x0 or 300x300f",
            )
