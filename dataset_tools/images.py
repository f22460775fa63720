"""Decode uploaded image bytes into an RGB Pillow image, safely and fast.

Every query photo enters the engine through :func:`decode_image`, so this module is where
two kinds of hostile input are handled once:

* phones: 12-megapixel JPEGs (sometimes MPO), EXIF orientation instead of rotated pixels,
  CMYK or greyscale JPEGs from scanners, 16-bit or palette PNGs with transparency;
* attackers and accidents: empty uploads, text, PDFs, truncated files and decompression
  bombs (a few KB that claim billions of pixels).

Memory is bounded per decode, before any pixel is decoded. Three checks read only the header:

* ``max_pixels`` (width x height);
* the *shape*: the shorter side at least :data:`MIN_SIDE` px and the aspect ratio at most
  :data:`MAX_ASPECT` : 1. A 20000x1 strip is a few hundred bytes, but preprocessing scales
  its short side to 224 px, which asks for billions of pixels; such files are refused
  (``bad_dimensions``) rather than letterboxed, because no artwork photo looks like that;
* ``max_decode_bytes``: what Pillow and libjpeg will allocate for this file, estimated from
  the format, mode and size (:func:`decode_cost`). Pillow stores RGB as 4 bytes a pixel,
  alpha images need a mask to be composited, WebP decodes into a buffer of its own before
  Pillow copies it, and a *progressive* JPEG keeps every DCT coefficient of the whole image
  (2 bytes per coefficient) whatever the draft scale, so a 64 MP flat PNG or progressive
  JPEG of a few hundred KB would otherwise cost gigabytes.

After decoding, the image is reduced to ``min_side`` *in its own mode* first, and only the
reduced image is rotated (EXIF) and converted to RGB; transparency is composited onto white
in place (one ``paste`` through the inverted alpha), never through full-size copies.

Failures are raised as :class:`ImageDecodeError` with a stable ``code`` so the HTTP layer
can turn them into a 4xx answer without knowing anything about Pillow.

Speed: descriptors look at a few hundred pixels, so decoding a 4032x3024 photo at full
resolution is waste. With ``min_side`` the JPEG decoder is asked (``Image.draft``) to
scale by 1/2, 1/4 or 1/8 inside libjpeg's IDCT, which skips most of the work (entropy
decoding of the whole file remains, so the time still grows with the file size). A 12 MP
snap decodes about 2-3x faster at ``min_side=512``; the figures are in BENCHMARKS.md,
"Design measurements".

This module is framework-free on purpose: no Flask imports.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops, ImageFile, JpegImagePlugin, PngImagePlugin, WebPImagePlugin

__all__ = [
    "ACCEPTED_FORMATS",
    "DEFAULT_MAX_DECODE_BYTES",
    "MAX_ASPECT",
    "MIN_SIDE",
    "DecodedImage",
    "ImageDecodeError",
    "decode_cost",
    "decode_image",
    "decode_path",
    "header_size",
]

ACCEPTED_FORMATS: frozenset[str] = frozenset({"JPEG", "PNG", "WEBP"})
"""Formats we decode. MPO (iPhone multi-picture JPEG) is decoded too and reported as JPEG."""

_ACCEPTED_TEXT = "JPEG, PNG or WebP"

#: Shortest side we accept, in pixels (CIFAR-10's 32 px images pass; icons and 1-pixel lines do not).
MIN_SIDE = 16
#: Longest side / shortest side we accept: panoramas and hanging scrolls pass, 1-pixel strips do not.
MAX_ASPECT = 20.0
#: What one decode may allocate (see :func:`decode_cost`). With the upload itself in memory,
#: a worker stays within ~300 MB of its idle size for any accepted file.
DEFAULT_MAX_DECODE_BYTES = 200 * 1024 * 1024

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
    ``empty``, ``not_an_image``, ``unsupported_format``, ``truncated``, ``too_large``,
    ``bad_dimensions`` (a side under :data:`MIN_SIDE` px or an aspect ratio over
    :data:`MAX_ASPECT`). ``message`` tells a person what was wrong and what is accepted.
    """

    CODES = frozenset({"empty", "not_an_image", "unsupported_format", "truncated", "too_large", "bad_dimensions"})

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


def decode_image(
    data: bytes,
    *,
    max_pixels: int = 64_000_000,
    min_side: int | None = None,
    max_decode_bytes: int = DEFAULT_MAX_DECODE_BYTES,
) -> DecodedImage:
    """Decode ``data`` (the bytes of a JPEG, PNG or WebP file) into an RGB image.

    ``max_pixels`` bounds width*height as declared in the file header; it is checked before
    any pixel is decoded, so a decompression bomb costs a header parse, not gigabytes. So are
    the shape (:data:`MIN_SIDE`, :data:`MAX_ASPECT`) and ``max_decode_bytes``, the memory the
    decode itself may take (:func:`decode_cost`).
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
        _check_shape(declared)
    img = _open(data, max_pixels)
    fmt = "JPEG" if img.format == "MPO" else str(img.format)
    original_size = (int(img.size[0]), int(img.size[1]))
    _check_pixels(original_size, max_pixels)
    _check_shape(original_size)

    if min_side is not None and fmt == "JPEG":
        # draft() picks the largest scale s in {8,4,2,1} with both dims >= requested, so
        # asking for a min_side square keeps the *shorter* side >= min_side. Because it is
        # about the shorter side, the answer is the same after an EXIF 90-degree rotation.
        img.draft("RGB", (min_side, min_side))
    cost = decode_cost(img, fmt, original_size, min_side)
    if cost > max_decode_bytes:
        raise _too_costly(fmt, original_size, cost, max_decode_bytes)
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

    # Read from the decoded file (a PNG may keep EXIF after its pixels); the reduced copy has none.
    transpose = _exif_transpose_method(img)
    rgb = _to_small_rgb(img, min_side)
    if transpose is not None:
        rgb = rgb.transpose(transpose)
    return DecodedImage(
        image=rgb,
        format=fmt,
        original_size=original_size,
        decode_ms=(time.perf_counter() - started) * 1000.0,
    )


def decode_cost(img: Image.Image, fmt: str, original_size: tuple[int, int], min_side: int | None = None) -> int:
    """Bytes a decode of the opened (not yet loaded) ``img`` allocates at its peak, estimated.

    ``img.size`` is the size after ``draft`` (JPEG), ``original_size`` the size in the file.
    The factors are what Pillow allocates, checked against peak RSS by
    ``tests/data/test_decode_memory.py``: 1 byte a pixel for L/P/1-bit, 2 for 16-bit and 4 for
    every other mode (Pillow keeps RGB in 4 bytes too); WebP costs three more full-size
    buffers (libwebp's canvas, the bytes handed to Pillow, and Pillow's copy); a progressive
    JPEG needs libjpeg's whole-image coefficient buffer (2 bytes per coefficient) whatever
    the draft scale. Add the RGB output and a few MB of strips (:func:`_to_small_rgb`).
    """
    w, h = int(img.size[0]), int(img.size[1])
    pixels = w * h
    mode = img.mode
    stored = {"1": 1, "L": 1, "P": 1}.get(mode, 2 if mode.startswith("I;16") else 4)
    cost = pixels * stored
    if fmt == "WEBP":
        cost += pixels * 12
    if fmt == "JPEG" and (img.info.get("progressive") or img.info.get("progression")):
        ow, oh = original_size
        cost += ow * oh * len(img.getbands()) * 2
    factor = _reduction((w, h), min_side)
    if factor > 1 or mode != "RGB" or _has_alpha(img):  # else the decoded image is the output
        cost += -(-w // factor) * -(-h // factor) * 4
    return cost + _STRIP_PIXELS * 16


def decode_path(
    path: str | PathLike[str],
    *,
    max_pixels: int = 64_000_000,
    min_side: int | None = None,
    max_decode_bytes: int = DEFAULT_MAX_DECODE_BYTES,
) -> DecodedImage:
    """Read a file and :func:`decode_image` it (same keyword arguments)."""
    return decode_image(
        Path(path).read_bytes(), max_pixels=max_pixels, min_side=min_side, max_decode_bytes=max_decode_bytes
    )


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


def _check_shape(size: tuple[int, int]) -> None:
    w, h = size
    short, long = min(w, h), max(w, h)
    if short < MIN_SIDE:
        raise ImageDecodeError(
            "bad_dimensions",
            f"the image is {w}x{h} pixels; both sides must be at least {MIN_SIDE} pixels",
        )
    if long > MAX_ASPECT * short:
        raise ImageDecodeError(
            "bad_dimensions",
            f"the image is {w}x{h} pixels, an aspect ratio of {long / short:.0f}:1; "
            f"at most {MAX_ASPECT:.0f}:1 is accepted",
        )


def _too_costly(fmt: str, size: tuple[int, int], cost: int, budget: int) -> ImageDecodeError:
    w, h = size
    mb = 1024 * 1024
    return ImageDecodeError(
        "too_large",
        f"decoding this {w}x{h} {fmt} image would need about {cost / mb:.0f} MB, more than the "
        f"{budget / mb:.0f} MB allowed per image; send a smaller image or a (baseline) JPEG",
    )


_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _exif_transpose_method(img: Image.Image) -> Image.Transpose | None:
    """How to turn the pixels upright per the EXIF Orientation tag (phones store the tag, not
    rotated pixels); the same table as ``ImageOps.exif_transpose``.

    A malformed EXIF block must not make a good photo undecodable, so errors here leave the
    pixels as stored.
    """
    try:
        orientation = img.getexif().get(0x0112)
    except Exception:
        return None
    return _TRANSPOSE.get(orientation) if isinstance(orientation, int) else None


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        img.mode in ("P", "L", "RGB") and "transparency" in img.info
    )


def _reduction(size: tuple[int, int], min_side: int | None) -> int:
    """The integer box-reduce factor that keeps the shorter side >= min_side (1: none)."""
    return max(1, min(size) // min_side) if min_side is not None else 1


def _to_small_rgb(img: Image.Image, min_side: int | None) -> Image.Image:
    """Reduce to ``min_side`` and convert to 8-bit RGB without a full-size copy.

    Plain RGB/L/CMYK/YCbCr reduce as they are (one pass, small output). Modes that need a
    conversion first (alpha, palette, 1-bit, 16-bit) are converted, composited and reduced
    strip by strip, so the only full-size buffer is the decoded image itself.
    Transparent pixels are composited on white (the usual background of a catalogue scan),
    rather than dropping alpha, which would expose arbitrary colours under it; that happens
    before reducing, so hidden colours never bleed into edges.
    16-bit greyscale is scaled down (>> 8) instead of Pillow's default clipping at 255,
    which would turn most of a 16-bit image white.
    """
    factor = _reduction(img.size, min_side)
    if img.mode in ("RGB", "L", "CMYK", "YCbCr") and not _has_alpha(img):
        small = img.reduce(factor) if factor > 1 else img
        return small if small.mode == "RGB" else small.convert("RGB")
    w, h = img.size
    out = Image.new("RGB", (-(-w // factor), -(-h // factor)))
    rows = factor * max(1, _STRIP_PIXELS // (w * factor))
    for top in range(0, h, rows):
        strip = _strip_to_rgb(img.crop((0, top, w, min(h, top + rows))))
        out.paste(strip.reduce(factor) if factor > 1 else strip, (0, top // factor))
    return out


#: Pixels converted at a time by :func:`_to_small_rgb` (a few MB of working memory).
_STRIP_PIXELS = 1 << 20


def _strip_to_rgb(strip: Image.Image) -> Image.Image:
    """One full-resolution strip (a copy, ours to change) → RGB, alpha composited on white."""
    mode = strip.mode
    if mode.startswith("I;16") or mode == "I":
        wide = np.asarray(strip if mode == "I" else strip.convert("I")) >> 8
        return Image.fromarray(np.clip(wide, 0, 255).astype(np.uint8)).convert("RGB")
    if mode in ("LA", "La", "PA", "RGBa") or (mode in ("P", "L", "RGB") and "transparency" in strip.info):
        strip = strip.convert("LA" if mode in ("LA", "La") else "RGBA")
    if strip.mode in ("RGBA", "LA"):
        # Pasting white through the mask 255 - alpha gives c * a + 255 * (1 - a) per band:
        # exactly "over white".
        strip.paste((255,) * len(strip.getbands()), (0, 0, *strip.size), ImageChops.invert(strip.getchannel("A")))
    return strip.convert("RGB")  # L, 1, P, RGBA/LA (composited), CMYK, YCbCr
