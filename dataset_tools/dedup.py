"""Exact and near-duplicate detection for ingest.

Real collections hold the same image more than once: the same file under two labels, a
re-saved JPEG, a downsized copy from another portal.  Ingest keeps one and links the rest,
so it needs two questions answered per new image, fast, against everything already in the
collection:

* *exact* — same bytes: SHA-256 of the file (:func:`content_hash`), a dict lookup;
* *near* — same picture, different bytes: a 64-bit DCT perceptual hash
  (:func:`perceptual_hash`, pHash via ``imagehash``) within a small Hamming distance.

Hashes are stored in the catalog, so :class:`DuplicateIndex` is cheap to rebuild on resume.

Why pHash and this threshold: re-saved, resized and re-encoded copies of a painting stay
within a few bits, while distinct paintings almost never come that close; at 6 the only
pairs of the shared WikiArt set that match are the same painting scanned twice, and 8
already admits different paintings (distances in BENCHMARKS.md, "Design measurements").
* pHash does *not* survive cropping: trimming 3 % off each side gives median 6, max 20.
  A cropped copy is therefore not found; that would need a local-feature check.

Each hash thresholds 64 DCT coefficients at their median, so any image with some texture
has exactly 32 bits set (all 3 580 here) and distances come in even steps: 6 and 7 are the
same threshold.  ``near_threshold = 6`` keeps every re-encode above with one step (2 bits)
to spare while flagging no distinct painting in that set.  A near match is reported and
linked, never silently dropped, so a rare false hit stays visible.

*Flat images.* A blank or single-colour image has no texture for the DCT to describe: its
coefficients are ~0 and the median threshold turns noise into bits, so its hash lands at a
few bits from unrelated pictures (a 1x1 black PNG and a plain green one were 4-5 bits from
a striped JPEG and never got indexed).  :func:`near_duplicate_hash` therefore gives no hash
(``None``: exact matching only) to images whose 32x32 grey thumbnail, the one pHash itself
looks at, has a standard deviation under :data:`FLAT_GREY_STD` grey levels.  Every one of the
3 580 WikiArt files is above 15; JPEG noise on a flat canvas stays below 1.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Literal

import imagehash
import numpy as np
from PIL import Image

__all__ = [
    "DEFAULT_NEAR_THRESHOLD",
    "DuplicateIndex",
    "DuplicateMatch",
    "content_hash",
    "hamming_distance",
    "near_duplicate_hash",
    "perceptual_hash",
]

DEFAULT_NEAR_THRESHOLD = 6

#: Grey-level standard deviation (0..255) of the 32x32 pHash thumbnail under which an image
#: counts as flat and takes part in exact matching only.
FLAT_GREY_STD = 2.0

_U64 = 1 << 64
_MASK64 = _U64 - 1

Key = Hashable  # an item id (int) or a source_path (str): whatever the caller links to


def content_hash(data: bytes) -> str:
    """SHA-256 hex digest of the file bytes: identical files, whatever their names."""
    return hashlib.sha256(data).hexdigest()


def perceptual_hash(img: Image.Image) -> int:
    """64-bit pHash of an image as a *signed* int64.

    SQLite (and PostgreSQL ``BIGINT``) INTEGER columns are signed 64-bit, so a hash with the
    top bit set would overflow as an unsigned value.  We store the same 64 bits in two's
    complement instead: ``-1`` is ``0xFFFF_FFFF_FFFF_FFFF``.  Hamming distances are
    unaffected (:func:`hamming_distance` and :class:`DuplicateIndex` reinterpret the bits as
    unsigned).  Orientation is the caller's business: hash the image *after* applying EXIF
    orientation, as it will be shown.
    """
    bits = imagehash.phash(img, hash_size=8).hash.flatten()  # row-major, first bit = MSB
    return int.from_bytes(np.packbits(bits).tobytes(), "big", signed=True)


def near_duplicate_hash(img: Image.Image) -> int | None:
    """:func:`perceptual_hash`, or ``None`` for a flat, featureless image (see the module
    docstring): what ingest stores and matches near duplicates with."""
    grey = img.convert("L").resize((32, 32), Image.Resampling.LANCZOS)  # what imagehash.phash looks at
    if float(np.asarray(grey, dtype=np.float64).std()) < FLAT_GREY_STD:
        return None
    return perceptual_hash(grey)


def hamming_distance(a: int, b: int) -> int:
    """Number of differing bits between two 64-bit hashes (signed or unsigned form)."""
    return ((a ^ b) & _MASK64).bit_count()


@dataclass(frozen=True)
class DuplicateMatch:
    """``of`` is the key of the item already indexed; ``distance`` is 0 for exact matches."""

    kind: Literal["exact", "near"]
    of: Key
    distance: int


class DuplicateIndex:
    """Hashes of a collection's kept items, answering "is this new image already here?".

    Near search is a brute-force Hamming scan over a packed ``uint64`` array (XOR +
    ``np.bitwise_count``), which needs no tree and stays exact, and costs well under a
    millisecond per lookup at 100 000 entries (BENCHMARKS.md, "Design measurements").
    Removing swaps the last entry into the hole, so the array never needs compacting.
    Ties at the same distance go to the entry added first, so results do not depend on
    removal history.  An entry added with ``phash=None`` (no decodable image, an old row
    without a pHash) takes part in exact matching only.  Not thread-safe: one ingest owns
    one index.
    """

    def __init__(self, near_threshold: int = DEFAULT_NEAR_THRESHOLD) -> None:
        if not 0 <= near_threshold <= 64:
            raise ValueError("near_threshold must be between 0 and 64 bits")
        self.near_threshold = near_threshold
        self._sha: dict[Key, str] = {}  # every entry
        self._by_sha: dict[str, list[Key]] = {}
        # Entries with a pHash, packed: row i of the arrays belongs to _keys[i].
        self._hashes = np.empty(1024, dtype=np.uint64)
        self._seq = np.empty(1024, dtype=np.int64)  # insertion order, for stable tie-breaks
        self._keys: list[Key] = []
        self._pos: dict[Key, int] = {}
        self._next_seq = 0

    @classmethod
    def from_entries(
        cls,
        entries: Iterable[tuple[Key, str, int | None]],
        near_threshold: int = DEFAULT_NEAR_THRESHOLD,
    ) -> DuplicateIndex:
        """Rebuild from ``(key, sha256, phash)`` rows, e.g. the catalog on resume."""
        index = cls(near_threshold)
        for key, sha256, phash in entries:
            index.add(key, sha256, phash)
        return index

    def __len__(self) -> int:
        return len(self._sha)

    def __contains__(self, key: object) -> bool:
        return key in self._sha

    def add(self, key: Key, sha256: str, phash: int | None) -> None:
        """Index an item.  Adding a key again replaces its hashes."""
        if key in self._sha:
            self.remove(key)
        self._sha[key] = sha256
        self._by_sha.setdefault(sha256, []).append(key)
        if phash is None:
            return
        n = len(self._keys)
        if n == len(self._hashes):
            self._hashes = np.resize(self._hashes, 2 * n)
            self._seq = np.resize(self._seq, 2 * n)
        self._hashes[n] = phash & _MASK64
        self._seq[n] = self._next_seq
        self._next_seq += 1
        self._keys.append(key)
        self._pos[key] = n

    def remove(self, key: Key) -> None:
        """Forget an item (deleted from the collection).  Raises ``KeyError`` if unknown."""
        sha = self._sha.pop(key)
        same = self._by_sha[sha]
        same.remove(key)
        if not same:
            del self._by_sha[sha]
        i = self._pos.pop(key, None)
        if i is None:
            return
        last = len(self._keys) - 1
        if i != last:
            moved = self._keys[last]
            self._keys[i] = moved
            self._hashes[i] = self._hashes[last]
            self._seq[i] = self._seq[last]
            self._pos[moved] = i
        self._keys.pop()

    def find(self, sha256: str, phash: int | None) -> DuplicateMatch | None:
        """The item this image duplicates: an exact byte match first, else the nearest
        pHash within ``near_threshold`` bits, else ``None``."""
        same = self._by_sha.get(sha256)
        if same:
            return DuplicateMatch("exact", same[0], 0)
        n = len(self._keys)
        if phash is None or n == 0:
            return None
        dist = np.bitwise_count(self._hashes[:n] ^ np.uint64(phash & _MASK64))
        best = int(dist.min())
        if best > self.near_threshold:
            return None
        candidates = np.flatnonzero(dist == best)
        i = int(candidates[np.argmin(self._seq[candidates])])
        return DuplicateMatch("near", self._keys[i], best)
