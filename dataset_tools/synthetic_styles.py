"""A procedural, labelled "styles" collection that the tests and demos can make anywhere.

Why: the training/export pipeline must be testable on any clone, without ../shared. Three
visual "styles" — stripes (oriented gratings), dots (scattered discs) and washes (smooth
colour fields) — with random palettes, angles and noise, are easy enough for a pretrained
backbone to separate and varied enough that a head has something to learn. Optionally adds
duplicate files (one copy under the same label, one under another label), because real
collections have them and the split must cope.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

__all__ = ["STYLES", "SyntheticCollection", "make_style_image", "write_style_folder"]

STYLES = ("stripes", "dots", "washes")


@dataclass(frozen=True)
class SyntheticCollection:
    root: Path
    per_class: int
    duplicates: list[tuple[str, str]]  # (original, copy) source paths


def make_style_image(style: str, rng: np.random.Generator, size: int = 96) -> Image.Image:
    """One image of ``style`` (RGB, ``size`` x ``size``)."""
    palette = rng.integers(0, 256, size=(3, 3)).astype(np.float32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    if style == "stripes":
        angle = rng.uniform(0, np.pi)
        freq = rng.uniform(4, 10)
        t = 0.5 + 0.5 * np.sin(2 * np.pi * freq * (xx * np.cos(angle) + yy * np.sin(angle)))
        arr = palette[0] * t[..., None] + palette[1] * (1 - t[..., None])
    elif style == "dots":
        img = Image.new("RGB", (size, size), tuple(int(v) for v in palette[0]))
        draw = ImageDraw.Draw(img)
        for _ in range(int(rng.integers(8, 25))):
            r = rng.uniform(0.03, 0.1) * size
            cx, cy = rng.uniform(0, size, size=2)
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=tuple(int(v) for v in palette[int(rng.integers(1, 3))]))
        arr = np.asarray(img, dtype=np.float32)
    elif style == "washes":
        centres = rng.uniform(0, 1, size=(3, 2))
        weights = np.stack([np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / rng.uniform(0.05, 0.2)) for cx, cy in centres])
        weights /= weights.sum(axis=0, keepdims=True)
        arr = np.einsum("khw,kc->hwc", weights, palette)
    else:
        raise ValueError(f"unknown style {style!r}; known: {STYLES}")
    arr = arr + rng.normal(0, 6, size=arr.shape)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    return img.filter(ImageFilter.GaussianBlur(0.5))


def write_style_folder(
    root: Path,
    *,
    per_class: int = 20,
    size: int = 96,
    seed: int = 0,
    duplicates: bool = True,
    styles: tuple[str, ...] = STYLES,
) -> SyntheticCollection:
    """``root/<style>/<style>_NNN.jpg`` (a folder-per-label SOURCE); also writes ``manifest.csv``."""
    root = Path(root)
    rng = np.random.default_rng(seed)
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
