"""Abstract families of the demo collection: a Mondrian grid, op-art stripes, cubist facets.

Each paints a square of ``S`` pixels (the caller supersamples); :func:`canvas.square` adapts
them to other shapes.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from .canvas import Rng, facet, grid, jitter, pick

__all__ = ["cubist", "mondrian", "stripes"]


def mondrian(rng: Rng, S: int) -> Image.Image:
    """Primary-colour blocks between thick black bars on an off-white ground."""
    ground = jitter(rng, (242, 238, 226), 8)
    img = Image.new("RGB", (S, S), ground)
    rects = [(0.0, 0.0, float(S), float(S))]
    for _ in range(int(rng.integers(5, 11))):
        rects.sort(key=lambda r: (r[2] - r[0]) * (r[3] - r[1]))
        x0, y0, x1, y1 = rects.pop()
        t = float(rng.uniform(0.28, 0.72))
        if (x1 - x0) >= (y1 - y0) * float(rng.uniform(0.7, 1.4)):
            xm = x0 + t * (x1 - x0)
            rects += [(x0, y0, xm, y1), (xm, y0, x1, y1)]
        else:
            ym = y0 + t * (y1 - y0)
            rects += [(x0, y0, x1, ym), (x0, ym, x1, y1)]
    palette = [(206, 32, 36), (22, 52, 150), (246, 204, 24), (20, 20, 20)]
    draw = ImageDraw.Draw(img)
    order = rng.permutation(len(rects))
    n_filled = int(rng.integers(2, max(3, len(rects) // 2 + 1)))
    for k, i in enumerate(order[:n_filled]):
        colour = palette[k % 3] if k < 3 else pick(rng, palette)
        x0, y0, x1, y1 = rects[i]
        draw.rectangle((x0, y0, x1, y1), fill=jitter(rng, colour, 10))
    bar = max(3, int(S * rng.uniform(0.018, 0.032)))
    for x0, y0, x1, y1 in rects:
        draw.rectangle((x0, y0, x1, y1), outline=(15, 15, 15), width=bar)
    return img


def stripes(rng: Rng, S: int) -> Image.Image:
    """Op-art: hard-edged stripes bent by a sine warp (linear, concentric or radial).

    Stripe width swells and thins around one or two random centres (Bridget Riley's
    bulges).  That puts large light and dark regions into the picture; without them every
    stripe image is the same mid-grey at the coarse scale the perceptual hash looks at.
    """
    x, y = grid(S)
    angle = float(rng.uniform(0, math.pi))
    freq = float(rng.uniform(14, 32))
    amp = float(rng.uniform(0.4, 2.5))
    k = float(rng.uniform(1.5, 5))
    mode = int(rng.integers(3))
    if mode == 0:
        u = x * math.cos(angle) + y * math.sin(angle)
        v = -x * math.sin(angle) + y * math.cos(angle)
        phase = freq * u + amp * np.sin(k * math.pi * v)
    elif mode == 1:
        cx, cy = rng.uniform(-0.4, 0.4, 2)
        r = np.hypot(x - cx, y - cy)
        phase = freq * r + amp * np.sin(round(k) * np.arctan2(y - cy, x - cx))  # whole lobes: no seam
    else:
        theta = np.arctan2(y, x)
        phase = round(freq / 2) * theta + amp * 3 * np.hypot(x, y)
    duty = np.zeros((S, S), np.float32)
    for _ in range(int(rng.integers(1, 3))):
        bx, by = rng.uniform(-0.8, 0.8, 2)
        width = float(rng.uniform(0.25, 0.6))
        duty += float(rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 0.85)) * np.exp(
            -((x - bx) ** 2 + (y - by) ** 2) / (2 * width**2)
        )
    mask = np.sin(phase) > np.clip(duty, -0.9, 0.9)
    pairs = [
        ((15, 15, 15), (245, 245, 240)),
        ((20, 20, 90), (240, 240, 230)),
        ((200, 30, 40), (245, 240, 225)),
        ((10, 10, 10), (240, 200, 30)),
    ]
    dark, light = pairs[0] if rng.random() < 0.5 else pick(rng, pairs[1:])
    return Image.fromarray(np.where(mask[..., None], np.uint8(dark), np.uint8(light)), "RGB")


def cubist(rng: Rng, S: int) -> Image.Image:
    """Overlapping translucent facets in a muted palette, outlined in black."""
    palettes = [
        [(150, 120, 80), (190, 160, 110), (90, 80, 70), (120, 130, 120), (60, 55, 50)],
        [(110, 120, 140), (160, 150, 130), (80, 70, 60), (200, 180, 140), (50, 60, 70)],
        [(170, 100, 60), (200, 170, 120), (70, 90, 80), (140, 130, 110), (40, 40, 35)],
    ]
    palette = pick(rng, palettes)
    img = Image.new("RGB", (S, S), jitter(rng, palette[1], 10))
    draw = ImageDraw.Draw(img, "RGBA")
    cx, cy = rng.uniform(0.35, 0.65, 2) * S
    for _ in range(int(rng.integers(14, 26))):
        n = int(rng.integers(3, 6))
        ox, oy = cx + rng.normal(0, 0.22) * S, cy + rng.normal(0, 0.22) * S
        pts = facet(rng, ox, oy, float(rng.uniform(0.12, 0.32)) * S, n)
        colour = jitter(rng, pick(rng, palette), 18)
        draw.polygon(pts, fill=colour + (int(rng.integers(140, 230)),))
        draw.line(pts + [pts[0]], fill=(20, 18, 15, 255), width=max(2, int(S * rng.uniform(0.004, 0.009))))
    return img
