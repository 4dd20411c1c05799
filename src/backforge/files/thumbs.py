"""Thumbnails of images (Pillow), made on the first request for a declared size."""

from __future__ import annotations

import io
import struct
from typing import IO

from ..extras import require
from ..spec.file_fields import Thumb

# Formats kept as they are; any other image becomes a PNG thumbnail.
KEPT_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
# Larger images are refused before they are decoded (a small file may unpack to gigabytes).
MAX_PIXELS = 40_000_000
# Modes every kept format writes; others (16-bit, CMYK, ...) are converted first.
_WRITABLE_MODES = frozenset({"RGB", "RGBA", "L", "LA", "P"})


class NotAnImage(Exception):
    """The file cannot be made into a thumbnail; the message says why."""


def make_thumb(source: IO[bytes], thumb: Thumb) -> tuple[io.BytesIO, str]:
    """The thumbnail of the image in `source`, and its media type."""
    require("images", "thumbnails")
    from PIL import Image, ImageOps, UnidentifiedImageError

    # What Pillow raises on a file it cannot decode (its own fuzzers expect these).
    failures = (
        UnidentifiedImageError,
        OSError,
        ValueError,
        SyntaxError,
        EOFError,
        struct.error,
        MemoryError,
    )
    output = io.BytesIO()
    try:
        image = Image.open(source)  # reads the header only
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise Image.DecompressionBombError(f"{width}x{height}")
        image_format = image.format if image.format in KEPT_FORMATS else "PNG"
        if image.format == "JPEG":
            image.draft("RGB", (max(thumb.width, 1) * 2, max(thumb.height, 1) * 2))
        image = ImageOps.exif_transpose(image)
        if image.mode not in _WRITABLE_MODES:
            image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        if image_format == "JPEG" and image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        _resized(image, thumb).save(output, format=image_format)
    except Image.DecompressionBombError:
        message = f"the image has over {MAX_PIXELS:,} pixels: too large for a thumbnail"
        raise NotAnImage(message) from None
    except failures:
        # Pillow's own words may name server paths: not for the client.
        raise NotAnImage("this file cannot be read as an image: it has no thumbnails") from None
    output.seek(0)
    return output, KEPT_FORMATS[image_format]


def _resized(image, thumb: Thumb):
    from PIL import Image, ImageOps

    width, height = image.size
    if thumb.width == 0:
        box = (max(1, round(width * thumb.height / height)), thumb.height)
    elif thumb.height == 0:
        box = (thumb.width, max(1, round(height * thumb.width / width)))
    else:
        box = (thumb.width, thumb.height)
    if thumb.fit or thumb.width == 0 or thumb.height == 0:
        image = image.copy()
        image.thumbnail(box, Image.Resampling.LANCZOS)  # never enlarges
        return image
    return ImageOps.fit(image, box, Image.Resampling.LANCZOS)
