"""The demo collection artsnap draws for itself.

A fresh ``make run`` needs a collection it can make: a few hundred images in the eight
procedurally painted families of :data:`dataset_tools.painter.FAMILIES` (a Mondrian grid,
op-art stripes, a seascape, van Gogh-ish swirls, pointillist dots, a portrait on a dark
ground, cubist facets, an ink wash), which look nothing alike across families and vary
within one, so a search with one image visibly returns its family.

This module decides only the collection: the layout is exactly what ingest expects from a
curator, ``<family>/<family>_NNNN.jpg``, so the folder name becomes the label.  Two
deliberate duplicates show deduplication at work (see :data:`DEMO_DUPLICATES`): an exact
copy filed under a *second* family, and a resized, re-encoded copy that only the perceptual
hash catches.

Every image has its own random stream, :func:`~dataset_tools.painter.painting_rng` of
``(seed, family number, index)``: output is byte-identical for a seed, and
``per_family=10`` gives the first ten images of ``per_family=40``.
"""

from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PIL import Image

from . import painter
from .painter import FAMILIES, painting_rng

__all__ = [
    "DEMO_DUPLICATES",
    "FAMILIES",
    "DemoDuplicate",
    "DemoSummary",
    "generate_demo_collection",
    "paint",
]

_JPEG_QUALITY = 90


@dataclass(frozen=True)
class DemoDuplicate:
    """``path`` is a copy of ``original`` (both relative POSIX paths, i.e. ``source_path``)."""

    path: str
    original: str
    kind: Literal["exact", "near"]


@dataclass(frozen=True)
class DemoSummary:
    """What was written.  ``counts`` is files per family folder, duplicates included (what
    ingest will see per label); ``images`` is the total number of files."""

    out_dir: Path
    families: tuple[str, ...]
    counts: dict[str, int]
    images: int
    duplicates: tuple[DemoDuplicate, ...]
    seconds: float


#: ``(copy_family, copy_name, original_family, original_index, kind)``: an exact copy of a
#: Mondrian also filed under op-art stripes (one image, two labels), and a seascape resized
#: to 90 % and re-saved at JPEG quality 70 (a near duplicate).  Each copy sorts after its
#: original, so an ingest in path order keeps the original and links the copy.
DEMO_DUPLICATES: tuple[tuple[str, str, str, int, Literal["exact", "near"]], ...] = (
    ("stripes", "stripes_dup0000.jpg", "mondrian", 3, "exact"),
    ("seascape", "seascape_dup0001.jpg", "seascape", 5, "near"),
)


def paint(family: str, index: int, *, size: int = 256, seed: int = 0) -> Image.Image:
    """One image of a family, the same for the same ``(family, index, size, seed)``."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; known: {', '.join(FAMILIES)}")
    rng = painting_rng(seed, list(FAMILIES).index(family), index)
    return painter.paint(family, rng, size)


def _jpeg(img: Image.Image, quality: int = _JPEG_QUALITY) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _write_atomic(path: Path, data: bytes) -> None:
    # A dot-prefixed temporary name: readers skip hidden files, so an interrupted run
    # never leaves a half-written image that ingest would try to decode.
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def generate_demo_collection(
    out_dir: Path | str, *, per_family: int = 40, size: int = 256, seed: int = 0
) -> DemoSummary:
    """Write ``out_dir/<family>/<family>_NNNN.jpg`` for every family plus the duplicates.

    Re-running overwrites the generated files and removes images of ours that a previous
    run with a larger ``per_family`` left behind; other files in ``out_dir`` are not touched.
    """
    if per_family < 1:
        raise ValueError("per_family must be at least 1")
    if size < 32:
        raise ValueError("size must be at least 32 pixels")
    start = time.perf_counter()
    out_dir = Path(out_dir)
    counts: dict[str, int] = {}
    for family in FAMILIES:
        folder = out_dir / family
        folder.mkdir(parents=True, exist_ok=True)
        wanted = {f"{family}_{i:04d}.jpg" for i in range(per_family)}
        wanted |= {name for fam, name, *_ in DEMO_DUPLICATES if fam == family}
        for stale in folder.glob(f"{family}_*.jpg"):
            if stale.name not in wanted:
                stale.unlink()
        for i in range(per_family):
            rel = f"{family}/{family}_{i:04d}.jpg"
            _write_atomic(out_dir / rel, _jpeg(paint(family, i, size=size, seed=seed)))
        counts[family] = per_family

    duplicates = []
    for copy_family, copy_name, orig_family, orig_index, kind in DEMO_DUPLICATES:
        original = f"{orig_family}/{orig_family}_{orig_index % per_family:04d}.jpg"
        data = (out_dir / original).read_bytes()
        if kind == "near":
            img = Image.open(io.BytesIO(data))
            small = img.resize((round(size * 0.9), round(size * 0.9)), Image.LANCZOS)
            data = _jpeg(small, quality=70)
        rel = f"{copy_family}/{copy_name}"
        _write_atomic(out_dir / rel, data)
        counts[copy_family] += 1
        duplicates.append(DemoDuplicate(path=rel, original=original, kind=kind))

    return DemoSummary(
        out_dir=out_dir,
        families=tuple(FAMILIES),
        counts=counts,
        images=sum(counts.values()),
        duplicates=tuple(duplicates),
        seconds=time.perf_counter() - start,
    )
