"""Placeholder images that must never be ingested as an artwork.

Europeana's Thumbnail API v2 (``/thumbnail/v2/url.json?uri=…&type=IMAGE``, the URL behind
most ``edmPreview`` values) answers **200** with a generic icon when it holds no thumbnail
for the URI: ``ThumbnailControllerV2.getDefaultThumbnailForNotFoundResourceByType`` serves
``src/main/resources/images/EU_thumbnails_<type>.png`` (europeana/thumbnail-api at 7709694),
one per ``type`` (IMAGE, SOUND, VIDEO, TEXT, 3D; IMAGE for anything else), as ``image/png``
with the file's length. A pull that falls back to ``edmPreview`` would otherwise file the
icon under every such record — "exact duplicates" of each other, with provenance claiming
it is their image, and labels predicted on it pushed back to real records.

Each icon is recognised by a fingerprint taken from the real files, not by the files
themselves (they are not ours to ship):

* exact: the file's SHA-256 (what the API serves, byte for byte);
* perceptual, for a copy a proxy re-encoded or resized: a 64-bit DCT perceptual hash
  (ImageHash's ``phash``) within :data:`MAX_DISTANCE` bits, *and* the icons' look — a
  square, grey-only image whose border is the flat light grey (232) of all five. Paintings
  sit further from every icon than re-encoded copies of the icons do, and are rarely grey
  with a flat border as well, so the two tests together do not mistake a painting.

The fake Thumbnail API renders a stand-in with the same defining properties (size, colours,
layout, hence the same perceptual hash) — see ``europeana_sync.fake.thumbnails``.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

import imagehash
import numpy as np
from PIL import Image, UnidentifiedImageError

from dataset_tools.images import header_size

#: Bits a placeholder's perceptual hash may differ from the original's: room for a
#: re-encoded or resized copy, short of the distance at which paintings begin.
MAX_DISTANCE = 10
#: Anything larger is not one of these icons, however re-encoded (they are 2-3 KB).
MAX_PLACEHOLDER_BYTES = 256 * 1024
#: The flat background grey of every icon, and how far a re-encoded border may drift.
BACKGROUND_GREY = 232
BACKGROUND_TOLERANCE = 8


@dataclass(frozen=True)
class Placeholder:
    """One known placeholder: where it comes from and its fingerprint."""

    name: str
    description: str
    source: str
    sha256: str
    byte_length: int
    width: int
    height: int
    phash: str

    @property
    def hash(self) -> imagehash.ImageHash:
        return imagehash.hex_to_hash(self.phash)


_SOURCE = "europeana/thumbnail-api@7709694 src/main/resources/images/"

#: The Thumbnail API v2's default icons (ThumbnailControllerV2, CONTENT_LENGTH_* constants).
KNOWN_PLACEHOLDERS: tuple[Placeholder, ...] = (
    Placeholder(
        "europeana-thumbnail-v2-image",
        "Europeana's 'no thumbnail' icon for images",
        _SOURCE + "EU_thumbnails_image.png",
        "9b81b5fee241cee7aba478d1cd20715c1ae2601bcfca8c09e327731dfddf9bf5",
        2319,
        293,
        293,
        "e5669a996166c699",
    ),
    Placeholder(
        "europeana-thumbnail-v2-sound",
        "Europeana's 'no thumbnail' icon for sound",
        _SOURCE + "EU_thumbnails_sound.png",
        "6b51e5cddf05e0bac0825a3ca19711057b13b628d9006d2599681e7f361cc369",
        2484,
        293,
        293,
        "e5c69a3967c6303c",
    ),
    Placeholder(
        "europeana-thumbnail-v2-video",
        "Europeana's 'no thumbnail' icon for video",
        _SOURCE + "EU_thumbnails_video.png",
        "b06d7fd39556f96ec94048f5964efa7d097b1bea72dd5d247a59e5f17825b1e2",
        1932,
        293,
        293,
        "b3cecc3131ce9a31",
    ),
    Placeholder(
        "europeana-thumbnail-v2-text",
        "Europeana's 'no thumbnail' icon for text",
        _SOURCE + "EU_thumbnails_text.png",
        "71de9d34f79e47a6d32b9ffe2931ea8d3584ed4c0f5bcb3686a5653564e1827a",
        2180,
        293,
        293,
        "e5699a9665699a92",
    ),
    Placeholder(
        "europeana-thumbnail-v2-3d",
        "Europeana's 'no thumbnail' icon for 3D",
        _SOURCE + "EU_thumbnails_3d.png",
        "61aee4627b657c58cbd63da3caf3df8bac5b1fabbc067ceeeeb3bb1d02b55e28",
        3012,
        293,
        293,
        "f119cee63119c6c6",
    ),
)

_BY_SHA = {p.sha256: p for p in KNOWN_PLACEHOLDERS}


@dataclass(frozen=True)
class PlaceholderMatch:
    placeholder: Placeholder
    #: ``True`` for a byte-identical copy, ``False`` for a perceptual match.
    exact: bool
    distance: int


def _square(size: tuple[int, int]) -> bool:
    """The icons' shape: square (within 2 %), at least 32 px."""
    width, height = size
    return min(width, height) >= 32 and abs(width - height) <= 0.02 * max(width, height)


def _looks_like_the_icons(image: Image.Image) -> bool:
    """Square, grey only, with the icons' flat light-grey border."""
    if not _square(image.size):
        return False
    small = np.asarray(image.convert("RGB").resize((64, 64), Image.Resampling.BOX), dtype=np.int16)
    if np.abs(small[..., 0] - small[..., 1]).mean() > 4 or np.abs(small[..., 1] - small[..., 2]).mean() > 4:
        return False
    grey = small.mean(axis=2)
    ring = np.concatenate([grey[:5].ravel(), grey[-5:].ravel(), grey[5:-5, :5].ravel(), grey[5:-5, -5:].ravel()])
    return bool(abs(float(ring.mean()) - BACKGROUND_GREY) <= BACKGROUND_TOLERANCE and float(ring.std()) <= 4.0)


def match_placeholder(data: bytes) -> PlaceholderMatch | None:
    """Which known placeholder ``data`` is, or ``None`` (also for bytes that are no image)."""
    exact = _BY_SHA.get(hashlib.sha256(data).hexdigest())
    if exact is not None:
        return PlaceholderMatch(exact, exact=True, distance=0)
    if len(data) > MAX_PLACEHOLDER_BYTES:
        return None
    size = header_size(data)
    if size is None or not _square(size):
        return None  # read from the header: an artwork of another shape is never decoded here
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            image.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        return None
    if not _looks_like_the_icons(image):
        return None
    found = imagehash.phash(image)
    best = min(KNOWN_PLACEHOLDERS, key=lambda p: found - p.hash)
    distance = int(found - best.hash)
    return PlaceholderMatch(best, exact=False, distance=distance) if distance <= MAX_DISTANCE else None


def is_placeholder(data: bytes) -> bool:
    """Whether ``data`` is a known placeholder image (see :func:`match_placeholder`)."""
    return match_placeholder(data) is not None
