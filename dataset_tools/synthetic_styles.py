"""A procedural, labelled "styles" collection that the tests and demos can make anywhere.

Why: the training/export pipeline must be testable on any clone, without the shared data folder. Three
visual "styles" — stripes, dots and washes, painted by the random-palette textures of
:data:`dataset_tools.painter.TEXTURES` — are easy enough for a pretrained backbone to
separate and varied enough that a head has something to learn. Optionally adds duplicate
files (one copy under the same label, one under another label), because real collections
have them and the split must cope.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from . import painter

__all__ = ["STYLES", "SyntheticCollection", "make_style_image", "write_style_folder"]

STYLES = ("stripes", "dots", "washes")

#: label → the painter texture that paints it
_TEXTURE_OF = {"stripes": "grating", "dots": "discs", "washes": "wash"}


@dataclass(frozen=True)
class SyntheticCollection:
    root: Path
    per_class: int
    duplicates: list[tuple[str, str]]  # (original, copy) source paths


def make_style_image(style: str, rng: np.random.Generator, size: int = 96) -> Image.Image:
    """One image of ``style`` (RGB, ``size`` x ``size``)."""
    if style not in _TEXTURE_OF:
        raise ValueError(f"unknown style {style!r}; known: {STYLES}")
    # Not supersampled: the textures soften themselves, and hard disc edges are part of "dots".
    return painter.paint(_TEXTURE_OF[style], rng, size, supersample=1)


def write_style_folder(
    root: Path,
    *,
    per_class: int = 20,
    size: int = 96,
    seed: int = 0,
    duplicates: bool = True,
    styles: tuple[str, ...] = STYLES,
) -> SyntheticCollection:
    """``root/<style>/<style>_NNN.jpg`` (a folder-per-label SOURCE); also writes ``manifest.csv``.

    The whole folder is one random stream, named by ``seed``, drawn style after style (the
    trained-model tests are tuned on exactly these pictures).
    """
    root = Path(root)
    rng = painter.painting_rng(seed)
    rows: list[tuple[str, str]] = []
    for style in styles:
        (root / style).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            rel = f"{style}/{style}_{i:03d}.jpg"
            make_style_image(style, rng, size).save(root / rel, quality=92)
            rows.append((rel, style))
    dups: list[tuple[str, str]] = []
    if duplicates and len(styles) >= 2:
        first, second = styles[0], styles[1]
        same = f"{first}/{first}_copy.jpg"
        (root / same).write_bytes((root / f"{first}/{first}_000.jpg").read_bytes())
        other = f"{second}/{first}_001_misfiled.jpg"
        (root / other).write_bytes((root / f"{first}/{first}_001.jpg").read_bytes())
        dups = [(f"{first}/{first}_000.jpg", same), (f"{first}/{first}_001.jpg", other)]
        rows += [(same, first), (other, second)]
    with open(root / "manifest.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label"])
        w.writerows(rows)
    return SyntheticCollection(root=root, per_class=per_class, duplicates=dups)
