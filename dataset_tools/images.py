"""Decode uploaded image bytes into an RGB Pillow image, safely and fast.

Every query photo enters the engine through :func:`decode_image`, so this module is where
two kinds of hostile input are handled once:

* phones: 12-megapixel JPEGs (sometimes MPO), EXIF orientation instead of rotated pixels,
  CMYK or greyscale JPEGs from scanners, 16-bit or palette PNGs with transparency;
* attackers and accidents: empty uploads, text, PDFs, truncated files and decompression
  bombs (a few KB that claim billions of pixels).

Failures are raised as :class:`ImageDecodeError` with a stable ``code`` so the HTTP layer
can turn them into a 4xx answer without knowing anything about Pillow.

Speed: descriptors look at a few hundred pixels, so decoding a 4032x3024 photo at full
resolution is waste. With ``min_side`` the JPEG decoder is asked (``Image.draft``) to
scale by 1/2, 1/4 or 1/8 inside libjpeg's IDCT, which skips most of the work (entropy
decoding of the whole file remains, so the time still grows with the file size).
Measured 2026-11 on the shared 2-core dev box *while it was fully loaded by other jobs*
(load average ~5; CPU time of the decoding thread, best of 9), Pillow 13 / libjpeg-turbo 3.2:

    4032x3024 JPEG              full decode    min_side=512 (-> 1008x756)
    0.65 MB simulated snap, q64     47 ms          18 ms
    1.85 MB detailed, q90           64 ms          33 ms

Treat these as upper bounds: an idle box was not available to re-measure.

This module is framework-free on purpose: no Flask imports.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, JpegImagePlugin, PngImagePlugin, WebPImagePlugin

__all__ = [
    "ACCEPTED_FORMATS",
    "DecodedImage",
    "ImageDecodeError",
    "decode_image",
    "decode_path",
    "header_size",
]

ACCEPTED_FORMATS: frozenset[str] = frozenset({"JPEG", "PNG", "WEBP"})
"""Formats we decode. MPO (iPhone multi-picture JPEG) is decoded too and reported as JPEG."""

_ACCEPTED_TEXT = "JPEG, PNG or WebP"

# Pillow plugin names tried by Image.open. Restricting them means an upload is never parsed
# by one of Pillow's ~40 less-travelled format plugins. MPO is produced by the JPEG factory.
_OPEN_FORMATS = ("JPEG", "PNG", "WEBP")

# Magic numbers of the accepted formats: if a file starts like one of these but Pillow
# cannot open or decode it, it is a damaged image ("truncated"), not random bytes.
_ACCEPTED_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "JPEG"),
    (0, b"\x89PNG\r\n\x1a\n", "PNG"),
    (8, b"WEBP", "WEBP"),  # RIFF....WEBP; checked together with the RIFF tag below
)

# Image formats people actually upload that we refuse, to give a precise error message.
_REFUSED_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"GIF87a", "GIF"),
    (0, b"GIF89a", "GIF"),
    (0, b"BM", "BMP"),
    (0, b"II*\x00", "TIFF"),
    (0, b"MM\x00*", "TIFF"),
    (0, b"II+\x00", "TIFF"),  # BigTIFF
    (0, b"MM\x00+", "TIFF"),
    (0, b"\x00\x00\x01\x00", "ICO"),
    (0, b"8BPS", "PSD"),
    (0, b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (0, b"\xff\x4f\xff\x51", "JPEG 2000"),
    (0, b"\xff\x0a", "JPEG XL"),
    (0, b"\x00\x00\x00\x0cJXL ", "JPEG XL"),
)
# ISO-BMFF brands (bytes 8..12 after "ftyp"): iPhones default to HEIC.
_HEIF_BRANDS = {
    b"heic": "HEIC",
    b"heix": "HEIC",
    b"heim": "HEIC",
    b"heis": "HEIC",
    b"hevc": "HEIC",
    b"hevx": "HEIC",
    b"mif1": "HEIF",
    b"msf1": "HEIF",
    b"avif": "AVIF",
    b"avis": "AVIF",
}


class ImageDecodeError(ValueError):
    """An upload that cannot be turned into pixels.

    ``code`` is stable and machine-readable (the HTTP layer maps it to a status):
    ``empty``, ``not_an_image``, ``unsupported_format``, ``truncated``, ``too_large``.
    ``message`` tells a person what was wrong and what is accepted.
    """

    CODES = frozenset({"empty", "not_an_image", "unsupported_format", "truncated", "too_large"})

    def __init__(self, code: str, message: str) -> None:
        if code not in self.CODES:
            raise ValueError(f"unknown ImageDecodeError code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"ImageDecodeError(code={self.code!r}, message={self.message!r})"


@dataclass(frozen=True)
class DecodedImage:
    """The result of :func:`decode_image`.

    ``image`` is RGB with EXIF orientation applied and possibly reduced (draft/reduce), so
    its size may differ from ``original_size``, the (w, h) stored in the file. Keeping both
    lets callers map coordinates back to the upload and report what was received.
    """

    image: Image.Image
    format: str
    original_size: tuple[int, int]
    decode_ms: float


def decode_image(data: bytes, *, max_pixels: int = 64_000_000, min_side: int | None = None) -> DecodedImage:
    """Decode ``data`` (the bytes of a JPEG, PNG or WebP file) into an RGB image.

    ``max_pixels`` bounds width*height as declared in the file header; it is checked before
    any pixel is decoded, so a decompression bomb costs a header parse, not gigabytes.
    ``min_side``, when given, lets the decoder return a smaller image whose shorter side is
    still at least ``min_side`` (never upscales): JPEG via libjpeg's DCT scaling, other
    formats via a cheap box ``reduce`` after decoding.

    Raises :class:`ImageDecodeError`.
    """
    started = time.perf_counter()
    if not data:
        raise ImageDecodeError("empty", f"the upload is empty (0 bytes); send a {_ACCEPTED_TEXT} image")
    if min_side is not None and min_side < 1:
        raise ValueError("min_side must be >= 1")

    # Size check straight from the header, before Image.open: Pillow's own bomb check in
    # open() would otherwise print a DecompressionBombWarning for what we refuse anyway.
    declared = header_size(data)
    if declared is not None:
        _check_pixels(declared, max_pixels)
    img = _open(data, max_pixels)
    fmt = "JPEG" if img.format == "MPO" else str(img.format)
    original_size = (int(img.size[0]), int(img.size[1]))
    _check_pixels(original_size, max_pixels)

    if min_side is not None and fmt == "JPEG":
        # draft() picks the largest scale s in {8,4,2,1} with both dims >= requested, so
        # asking for a min_side square keeps the *shorter* side >= min_side. Because it is
        # about the shorter side, the answer is the same after an EXIF 90-degree rotation.
        img.draft("RGB", (min_side, min_side))

    try:
        img.load()
    except Image.DecompressionBombError as exc:
        raise _too_large(original_size, max_pixels, str(exc)) from exc
    except Exception as exc:
        # Pillow signals damage as OSError ("image file is truncated", "broken data stream"),
        # but also SyntaxError/ValueError/struct.error from plugins; all mean the same to a user.
        raise ImageDecodeError(
            "truncated",
            f"the {fmt} file is truncated or corrupt and could not be decoded ({exc}); upload the complete file",
        ) from exc

    _apply_exif_orientation(img)
    rgb = _to_rgb(img)
    if min_side is not None:
        rgb = _reduce_to_min_side(rgb, min_side)
    return DecodedImage(
        image=rgb,
        format=fmt,
        original_size=original_size,
        decode_ms=(time.perf_counter() - started) * 1000.0,
    )


def decode_path(
    path: str | PathLike[str], *, max_pixels: int = 64_000_000, min_side: int | None = None
) -> DecodedImage:
    """Read a file and :func:`decode_image` it (same keyword arguments)."""
    return decode_image(Path(path).read_bytes(), max_pixels=max_pixels, min_side=min_side)


# --------------------------------------------------------------------------- internals


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """Parse the header only (Pillow is lazy) or raise the right ImageDecodeError."""
    try:
        return Image.open(io.BytesIO(data), formats=_OPEN_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow refuses > 2 * Image.MAX_IMAGE_PIXELS itself (the warning only arrives as an
        # exception when warnings are errors), before we see the size: read it ourselves.
        size = header_size(data)
        if size is None:
            raise ImageDecodeError("too_large", f"the image is too large to decode: {exc}") from exc
        raise _too_large(size, max_pixels=min(max_pixels, 2 * (Image.MAX_IMAGE_PIXELS or 0))) from exc
    except Exception as exc:
        accepted = _sniff(data, _ACCEPTED_MAGIC)
        if accepted == "WEBP" and not data.startswith(b"RIFF"):
            accepted = None
        if accepted is not None:
            raise ImageDecodeError(
                "truncated",
                f"the file starts like a {accepted} image but its header is truncated or "
                "corrupt; upload the complete file",
            ) from exc
        refused = _sniff_refused(data)
        if refused is not None:
            raise ImageDecodeError(
                "unsupported_format",
                f"{refused} images are not accepted; send a {_ACCEPTED_TEXT} image",
            ) from exc
        raise ImageDecodeError(
            "not_an_image",
            f"the upload is not a recognisable image ({len(data)} bytes); send a {_ACCEPTED_TEXT} image",
        ) from exc


def header_size(data: bytes) -> tuple[int, int] | None:
    """(w, h) of a JPEG, PNG or WebP from its header via the format plugin directly: no pixel
    decoding (and no Image.open bomb check); None when it cannot be read."""
    plugin: type[ImageFile.ImageFile] | None = {
        "JPEG": JpegImagePlugin.JpegImageFile,
        "PNG": PngImagePlugin.PngImageFile,
        "WEBP": WebPImagePlugin.WebPImageFile,
    }.get(_sniff(data, _ACCEPTED_MAGIC) or "")
    if plugin is None:
        return None
    try:
        with plugin(io.BytesIO(data)) as img:
            return int(img.size[0]), int(img.size[1])
    except Exception:
        return None


def _sniff(data: bytes, table: tuple[tuple[int, bytes, str], ...]) -> str | None:
    for offset, magic, name in table:
        if data[offset : offset + len(magic)] == magic:
            return name
    return None


def _sniff_refused(data: bytes) -> str | None:
    name = _sniff(data, _REFUSED_MAGIC)
    if name is not None:
        return name
    if data[4:8] == b"ftyp":
        brand = _HEIF_BRANDS.get(data[8:12])
        if brand is not None:
            return brand
    # Something else Pillow can identify from its header (e.g. PCX, TGA with a footer):
    # an image, just not one of ours. Only the header is parsed, no pixels are decoded.
    try:
        with Image.open(io.BytesIO(data)) as other:
            return str(other.format)
    except Exception:
        return None


def _check_pixels(size: tuple[int, int], max_pixels: int) -> None:
    w, h = size
    if w <= 0 or h <= 0:
        raise ImageDecodeError("truncated", f"the image header declares an empty size {w}x{h}")
    if w * h > max_pixels:
        raise _too_large(size, max_pixels)


def _too_large(size: tuple[int, int], max_pixels: int, detail: str = "") -> ImageDecodeError:
    w, h = size
    extra = f" ({detail})" if detail else ""
    return ImageDecodeError(
        "too_large",
        f"the image is {w}x{h} = {w * h:,} pixels, more than the limit of {max_pixels:,} "
        f"pixels{extra}; send a smaller {_ACCEPTED_TEXT} image",
    )


def _apply_exif_orientation(img: Image.Image) -> None:
    """Rotate/flip pixels as the EXIF Orientation tag says (phones store it, not rotated pixels).

    A malformed EXIF block must not make a good photo undecodable, so errors here leave the
    pixels as stored.
    """
    try:
        ImageOps.exif_transpose(img, in_place=True)
    except Exception:
        pass


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any decoded mode to 8-bit RGB.

    Transparent pixels are composited on white (the usual background of a catalogue scan),
    rather than dropping alpha, which would expose arbitrary colours under it.
    16-bit greyscale is scaled down (>> 8) instead of Pillow's default clipping at 255,
    which would turn most of a 16-bit image white.
    """
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit greyscale PNG: keep the top 8 bits of 0..65535.
        grey = np.asarray(img).astype(np.int64) >> 8
        return Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8)).convert("RGB")
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode in ("P", "L", "RGB") and "transparency" in img.info)
    if has_alpha:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode == "RGB":
        return img
    return img.convert("RGB")  # L, 1, P, CMYK (Pillow undoes Adobe's inverted CMYK), YCbCr


def _reduce_to_min_side(img: Image.Image, min_side: int) -> Image.Image:
    """Box-reduce by an integer factor keeping the shorter side >= min_side.

    JPEGs already arrive reduced by draft(); this covers PNG/WebP (and JPEGs whose draft
    scale was limited to 1/8) at a cost of one pass over the pixels.
    """
    factor = min(img.size) // min_side
    if factor < 2:
        return img
    return img.reduce(factor)
