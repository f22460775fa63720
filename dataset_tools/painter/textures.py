"""Three plain textures with random colours — oriented gratings, scattered discs and smooth
washes — for the training-pipeline tests (labelled stripes, dots and washes there).

Why random palettes: the classes must differ in *texture* only, so a head trained on them
learns structure rather than a colour lookup; easy enough for a pretrained (or tiny) backbone
to separate, varied enough that the head has something to learn.  Every texture ends with
faint sensor-like grain and a slight softening, as scanned images have.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .canvas import Rng, scatter_discs, to_image

__all__ = ["discs", "grating", "wash"]


def _palette(rng: Rng) -> np.ndarray:
    return rng.integers(0, 256, size=(3, 3)).astype(np.float32)


def _coords(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates as fractions of the width and height, (y, x) full-size arrays."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    return yy / height, xx / width


def _finish(arr: np.ndarray, rng: Rng) -> Image.Image:
    arr = arr + rng.normal(0, 6, size=arr.shape)
    return to_image(arr).filter(ImageFilter.GaussianBlur(0.5))


def grating(rng: Rng, width: int, height: int) -> Image.Image:
    """Soft sine stripes between two colours, at a random angle and 4-10 cycles per side."""
    palette = _palette(rng)
    yy, xx = _coords(width, height)
    angle = rng.uniform(0, np.pi)
    freq = rng.uniform(4, 10)
    t = (0.5 + 0.5 * np.sin(2 * np.pi * freq * (xx * np.cos(angle) + yy * np.sin(angle))))[..., None]
    return _finish(palette[0] * t + palette[1] * (1 - t), rng)


def discs(rng: Rng, width: int, height: int) -> Image.Image:
    """8-24 hard-edged discs in two colours on a flat ground."""
    palette = _palette(rng)
    img = Image.new("RGB", (width, height), tuple(int(v) for v in palette[0]))
    draw = ImageDraw.Draw(img)
    n = int(rng.integers(8, 25))
    radii, centres, colours = np.empty(n), np.empty((n, 2)), np.empty((n, 3))
    for i in range(n):  # one disc at a time: the order of draws fixes the picture
        radii[i] = rng.uniform(0.03, 0.1) * min(width, height)
        centres[i] = rng.uniform(0, 1, size=2) * (width, height)
        colours[i] = palette[int(rng.integers(1, 3))]
    scatter_discs(draw, centres[:, 0], centres[:, 1], radii, colours)
    return _finish(np.asarray(img, dtype=np.float32), rng)


def wash(rng: Rng, width: int, height: int) -> Image.Image:
    """Three colours blending smoothly around random centres (no edges at all)."""
    palette = _palette(rng)
    yy, xx = _coords(width, height)
    centres = rng.uniform(0, 1, size=(3, 2))
    weights = np.stack([np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / rng.uniform(0.05, 0.2)) for cx, cy in centres])
    weights /= weights.sum(axis=0, keepdims=True)
    return _finish(np.einsum("khw,kc->hwc", weights, palette), rng)
