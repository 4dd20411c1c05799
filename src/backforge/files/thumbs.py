"""Thumbnails of images (Pillow), made on the first request for a declared size."""

from __future__ import annotations

import io
from typing import IO

from ..extras import require
from ..spec.file_fields import Thumb

# Formats kept as they are; any other image becomes a PNG thumbnail.
KEPT_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
# Larger images are refused rather than decoded (a small file may unpack to gigabytes).
MAX_PIXELS = 50_000_000


class NotAnImage(ValueError):
    """The file cannot be read as an image."""


def make_thumb(source: IO[bytes], thumb: Thumb) -> tuple[io.BytesIO, str]:
    """The thumbnail of the image in `source`, and its media type."""
    require("images", "thumbnails")
    from PIL import Image, ImageOps, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        image = Image.open(source)
        kept = image.format in KEPT_FORMATS
        image_format = image.format if kept else "PNG"
        image = ImageOps.exif_transpose(image)
        if image_format == "JPEG" and image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image = _resized(image, thumb)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError) as exc:
        raise NotAnImage(str(exc)) from None
    output = io.BytesIO()
    image.save(output, format=image_format)
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
