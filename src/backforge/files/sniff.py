"""What a file is, judged by its content: the media type its first bytes show, checked against
what its name says (a PNG named .exe and a program named .png are both refused)."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import PurePosixPath

import filetype

# Enough of the start of a file for every signature filetype knows.
HEAD_BYTES = 8192
BINARY = "application/octet-stream"
# Text types a name may give a file whose content is text.
_TEXT_TYPES = frozenset(
    {
        "application/json",
        "application/xml",
        "application/javascript",
        "application/x-yaml",
        "application/yaml",
        "image/svg+xml",
    }
)


class FileRefused(ValueError):
    """The file's content or name is not acceptable; the message says why."""


@dataclass(frozen=True)
class Sniffed:
    media_type: str
    extension: str  # for the stored name, without the dot ("" when none fits)


def sniff(head: bytes, filename: str | None) -> Sniffed:
    """The file's media type from `head` (its first HEAD_BYTES), refused when its name claims
    another known type."""
    named = _extension(filename)
    named_type = _type_of_extension(named) if named else None
    kind = filetype.guess(head)
    if kind is not None:
        if named and named_type is not None and named not in _extensions(kind.mime, kind.extension):
            raise FileRefused(
                f"the name says .{named} ({named_type}) but the content is {kind.mime}"
            )
        return Sniffed(kind.mime, kind.extension)
    if _is_text(head):
        if named_type is not None and filetype.get_type(ext=named) is not None:
            raise FileRefused(f"the name says .{named} ({named_type}) but the content is text")
        if named_type is not None and (named_type.startswith("text/") or named_type in _TEXT_TYPES):
            return Sniffed(named_type, named)
        return Sniffed("text/plain", "txt")
    if named and filetype.get_type(ext=named) is not None:
        raise FileRefused(f"the name says .{named} ({named_type}) but the content is not")
    return Sniffed(BINARY, named if named_type is None or named_type == BINARY else "bin")


def _extension(filename: str | None) -> str:
    suffix = PurePosixPath((filename or "").replace("\\", "/")).suffix.lower().lstrip(".")
    return suffix if suffix.isascii() and suffix.isalnum() and len(suffix) <= 10 else ""


def _type_of_extension(extension: str) -> str | None:
    kind = filetype.get_type(ext=extension)
    if kind is not None:
        return kind.mime
    return mimetypes.guess_type(f"file.{extension}", strict=False)[0]


def _extensions(media_type: str, detected: str) -> set[str]:
    names = {detected, *(e.lstrip(".") for e in mimetypes.guess_all_extensions(media_type))}
    names |= {kind.extension for kind in filetype.types if kind.mime == media_type}
    return names


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A character cut by the end of the head is still text.
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True


def media_type_of(name: str) -> str:
    """The media type a stored name (whose extension came from its content) stands for."""
    extension = _extension(name)
    if not extension or extension == "bin":
        return BINARY
    return _type_of_extension(extension) or BINARY
