"""Photos as a phone hands them over: upright (EXIF orientation applied), then small enough to send.

A 12 MP camera JPEG is 3-6 MB and its pixels are usually stored sideways with an EXIF tag
saying how to turn them. Every client applies the tag first (Pillow's ``exif_transpose``;
``ExifInterface`` on Android; ``CGImagePropertyOrientation`` on iOS) and shrinks the photo to
at most :data:`UPLOAD_MAX_SIDE` pixels on its long side with an antialiasing filter before
uploading it: the server never needs more (it describes the photo at 224 px, and locates the
artwork at well under 1 024 px), and the upload is ten times smaller.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageOps

#: The long side of a photo the SDKs upload (issue 10): the server needs no more.
UPLOAD_MAX_SIDE = 1024
UPLOAD_JPEG_QUALITY = 90


def open_upright(photo: Image.Image | str | Path | bytes) -> Image.Image:
    """Decode ``photo`` and apply its EXIF orientation; RGB."""
    if isinstance(photo, Image.Image):
        img = photo
    elif isinstance(photo, (bytes, bytearray)):
        img = Image.open(io.BytesIO(bytes(photo)))
    else:
        img = Image.open(photo)
    upright = ImageOps.exif_transpose(img)
    return (upright if upright is not None else img).convert("RGB")


def upload_size(width: int, height: int, max_side: int = UPLOAD_MAX_SIDE) -> tuple[int, int]:
    """(width, height) scaled so the long side is at most ``max_side`` (never enlarged)."""
    long_side = max(width, height)
    if long_side <= max_side:
        return width, height
    scale = max_side / long_side
    return max(1, round(width * scale)), max(1, round(height * scale))


def prepare_upload(photo: Image.Image | str | Path | bytes, max_side: int = UPLOAD_MAX_SIDE) -> bytes:
    """JPEG bytes of the upright photo, long side at most ``max_side`` (antialiased downscale)."""
    img = open_upright(photo)
    size = upload_size(img.width, img.height, max_side)
    if size != img.size:
        img = img.resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0)  # antialiased, as the spec's
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=UPLOAD_JPEG_QUALITY)
    return buf.getvalue()
