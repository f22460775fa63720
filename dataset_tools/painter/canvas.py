"""Drawing primitives every painter style shares: colour jitter, picks, gradients, coordinate
grids, dots and facets.

Every primitive draws its randomness from the ``rng`` it is given and from nothing else, so a
picture is a pure function of its stream (see :func:`dataset_tools.painter.painting_rng`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np
from PIL import Image, ImageDraw

__all__ = [
    "RGB",
    "Rng",
    "facet",
    "grid",
    "jitter",
    "pick",
    "scatter_discs",
    "square",
    "to_image",
    "vertical_gradient",
]

Rng = np.random.Generator
RGB = tuple[int, int, int]
T = TypeVar("T")


def jitter(rng: Rng, color: Sequence[int], amount: int) -> RGB:
    """The colour moved by up to ``amount`` per channel: variation inside a family or style."""
    r, g, b = (min(255, max(0, c + d)) for c, d in zip(color, rng.integers(-amount, amount + 1, 3).tolist()))
    return (r, g, b)


def pick(rng: Rng, options: Sequence[T]) -> T:
    return options[int(rng.integers(len(options)))]


def grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in [-1, 1] as a row ``x`` (1, n) and a column ``y`` (n, 1),
    which broadcast to full images only where needed; ``y`` grows downwards."""
    axis = (np.arange(n, dtype=np.float32) + 0.5) / n * 2 - 1
    return axis[None, :], axis[:, None]


def vertical_gradient(height: int, width: int, top: RGB, bottom: RGB, y0: float = 0.0, y1: float = 1.0) -> np.ndarray:
    """``top`` until fraction ``y0`` of the height, blending to ``bottom`` at ``y1`` (float RGB)."""
    t = np.clip((np.linspace(0, 1, height, dtype=np.float32) - y0) / max(y1 - y0, 1e-6), 0, 1)
    col = (1 - t)[:, None] * np.array(top, np.float32) + t[:, None] * np.array(bottom, np.float32)
    return np.repeat(col[:, None, :], width, axis=1)


def to_image(arr: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def scatter_discs(
    draw: ImageDraw.ImageDraw, xs: np.ndarray, ys: np.ndarray, radii: np.ndarray | float, colours: np.ndarray
) -> None:
    """Filled discs centred at ``(xs, ys)`` (one radius for all, or one each): pointillist
    dots, scattered spots."""
    rs = np.broadcast_to(np.asarray(radii, np.float64), xs.shape)
    for x, y, r, (red, green, blue) in zip(xs.tolist(), ys.tolist(), rs.tolist(), colours.astype(int).tolist()):
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(red, green, blue))


def facet(rng: Rng, cx: float, cy: float, radius: float, corners: int) -> list[tuple[float, float]]:
    """A convex-ish polygon around ``(cx, cy)``: evenly spread corners with jitter give broad
    facets (cubist planes, expressionist shards) rather than needle-thin slivers."""
    angles = (
        np.linspace(0, 2 * math.pi, corners, endpoint=False)
        + rng.uniform(0, 2 * math.pi)
        + rng.normal(0, 0.25, corners)
    )
    radii = radius * rng.uniform(0.6, 1.0, corners)
    return [(cx + r * math.cos(a), cy + r * math.sin(a)) for a, r in zip(angles, radii)]


def square(paint_square: Callable[[Rng, int], Image.Image]) -> Callable[[Rng, int, int], Image.Image]:
    """Adapt a painter composed for a square canvas to any ``(width, height)``: paint the
    square on the longer side and keep its centre (the composition's middle survives)."""

    def paint(rng: Rng, width: int, height: int) -> Image.Image:
        side = max(width, height)
        img = paint_square(rng, side)
        if (width, height) == (side, side):
            return img
        left, top = (side - width) // 2, (side - height) // 2
        return img.crop((left, top, left + width, top + height))

    paint.__doc__ = paint_square.__doc__
    paint.__name__ = paint_square.__name__
    return paint
