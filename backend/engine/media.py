"""The media store: a copy of every catalog image and its thumbnail under the data folder.

Keeping our own copy (at most ``media_max_side`` px) makes the catalog self-contained: the
server can show thumbnails, answer "related" queries and re-embed after a crash or a model
upgrade without the original SOURCE folder still being there. Files are named by content
hash, so re-ingesting the same bytes writes nothing.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

_EXT = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}


@dataclass(frozen=True)
class StoredMedia:
    media_path: str  # relative to data_dir
    thumb_path: str


def _write(path: Path, data: bytes) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".m.", suffix=".tmp")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _jpeg(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality, optimize=False)
    return buf.getvalue()


def store_media(
    data_dir: Path,
    collection_id: int,
    sha256: str,
    data: bytes,
    image: Image.Image,
    fmt: str,
    original_size: tuple[int, int],
    *,
    max_side: int,
    thumb_size: int,
) -> StoredMedia:
    """Keep the original bytes when small and upright already; else a re-encoded JPEG."""
    sub = Path("media") / str(collection_id) / sha256[:2]
    oriented_same = image.size == original_size
    if fmt in _EXT and max(original_size) <= max_side and oriented_same:
        media_rel = sub / f"{sha256}{_EXT[fmt]}"
        payload = data
    else:
        media_rel = sub / f"{sha256}.jpg"
        big = image
        if max(big.size) > max_side:
            big = big.copy()
            big.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        payload = _jpeg(big, 90)
    _write(data_dir / media_rel, payload)
    thumb_rel = Path("thumbs") / str(collection_id) / sha256[:2] / f"{sha256}.jpg"
    if not (data_dir / thumb_rel).exists():
        thumb = image.copy()
        thumb.thumbnail((thumb_size, thumb_size), Image.Resampling.BILINEAR, reducing_gap=2.0)
        _write(data_dir / thumb_rel, _jpeg(thumb, 85))
    return StoredMedia(media_path=media_rel.as_posix(), thumb_path=thumb_rel.as_posix())


def remove_media(data_dir: Path, rel_paths: Iterable[str]) -> int:
    """Delete stored files (paths relative to ``data_dir``) that no item uses any more.

    Only paths under ``media/`` and ``thumbs/`` are touched, whatever a row says. Returns how
    many files were removed; a file already gone is not an error (a crash may have removed it).
    """
    removed = 0
    root = data_dir.resolve()
    for rel in rel_paths:
        path = (root / rel).resolve()
        if (
            path.parent == root
            or root not in path.parents
            or path.relative_to(root).parts[0] not in ("media", "thumbs")
        ):
            continue
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            pass
    return removed
