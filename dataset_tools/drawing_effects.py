"""Turn a painting into something that looks like a drawing or a print of it.

Why: the image-type model (see :mod:`edge_models.style_model`) must recognise a drawing or a
print among the queries, and learn which descriptors to trust for one, yet no collection at
hand holds labelled drawings. These renderings are a *synthetic* stand-in: what a pencil or
ink drawing, an engraving or a sepia wash of the same composition would roughly look like.
They keep the composition and the tonal layout, lose the colour and the brushwork, which is
exactly what makes the colour histogram useless and the content embedding unreliable for
such queries. Real drawings differ (the hand, the paper, the line economy); BENCHMARKS.md
says which figures rest on these stand-ins.

Three renderings, one drawn at random per picture (every random draw comes from the ``rng``
handed in, so a rendering is a pure function of (image, rng)):

* ``line``: extended difference of Gaussians (XDoG, Winnemöller et al. 2012) — ink lines
  where the tone changes, on warm paper;
* ``engraving``: the same lines plus parallel hatching whose density follows the shadows
  (the look of an etching or a woodcut reproduction);
* ``wash``: a posterised monochrome ink wash (sepia or black) with soft edges.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from .camera_snap import trim_letterbox

__all__ = ["DRAWING_KINDS", "drawing_of"]

DRAWING_KINDS = ("line", "engraving", "wash")


def _paper(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Off-white paper with a faint fibre texture, float32 (h, w, 3) in 0..255."""
    tint = np.array([rng.uniform(235, 250), rng.uniform(228, 244), rng.uniform(205, 232)], np.float32)
    grain = cv2.GaussianBlur(rng.normal(0, 6, (h, w)).astype(np.float32), (0, 0), 1.2)
    return np.clip(tint[None, None, :] + grain[..., None], 0, 255)


def _xdog(grey: np.ndarray, sigma: float, k: float, p: float, eps: float, phi: float) -> np.ndarray:
    """XDoG edge map: 1 = paper, 0 = ink (float32 in 0..1)."""
    g1 = cv2.GaussianBlur(grey, (0, 0), sigma)
    g2 = cv2.GaussianBlur(grey, (0, 0), sigma * k)
    d = (1 + p) * g1 - p * g2
    return np.where(d >= eps, 1.0, 1.0 + np.tanh(phi * (d - eps))).astype(np.float32)


def _hatching(h: int, w: int, shade: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ink coverage in 0..1 from parallel lines (two directions in the darkest tones)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    period = rng.uniform(3.0, 5.0) * max(h, w) / 224
    out = np.zeros((h, w), np.float32)
    angle = rng.uniform(0, np.pi)
    for level, offset in ((0.35, 0.0), (0.65, np.pi / 2)):
        a = angle + offset
        phase = (xx * np.cos(a) + yy * np.sin(a)) / period
        line = (np.abs(phase - np.round(phase)) < 0.22).astype(np.float32)
        out = np.maximum(out, line * (shade > level))
    return out


def drawing_of(img: Image.Image, rng: np.random.Generator, kind: str | None = None) -> Image.Image:
    """A drawing/print-like rendering of ``img`` (RGB); ``kind`` None draws one.

    Black letterbox bars (as in the 224 px WikiArt set) are cut off first: a drawing on paper
    has none, and XDoG would ink them solid.
    """
    kind = kind or str(rng.choice(DRAWING_KINDS))
    if kind not in DRAWING_KINDS:
        raise ValueError(f"unknown drawing kind {kind!r}; known: {', '.join(DRAWING_KINDS)}")
    img = img.convert("RGB")
    rgb = np.asarray(img.crop(trim_letterbox(img)))
    h, w = rgb.shape[:2]
    scale = max(h, w) / 224
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    paper = _paper(h, w, rng)
    ink_rgb = (
        np.array([60, 38, 22], np.float32) if rng.random() < 0.4 else np.array([25, 25, 30], np.float32)
    )  # sepia or black ink
    if kind == "wash":
        levels = int(rng.integers(3, 6))
        soft = cv2.GaussianBlur(grey, (0, 0), rng.uniform(1.0, 2.5) * scale)
        density = 1.0 - np.round(soft * (levels - 1)) / (levels - 1)
        density = cv2.GaussianBlur(density.astype(np.float32), (0, 0), 0.8 * scale) * rng.uniform(0.7, 0.95)
    else:
        lines = _xdog(
            grey,
            sigma=rng.uniform(0.6, 1.2) * scale,
            k=1.6,
            p=rng.uniform(18, 30),
            eps=rng.uniform(0.0, 0.15),
            phi=rng.uniform(8, 20),
        )
        density = 1.0 - lines
        if kind == "engraving":
            shade = 1.0 - cv2.GaussianBlur(grey, (0, 0), 2.0 * scale)
            density = np.maximum(density, _hatching(h, w, shade, rng) * 0.85)
    out = paper + np.clip(density, 0, 1)[..., None] * (ink_rgb - paper)
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), "RGB")
