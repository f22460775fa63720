"""Augmentation that makes a clean catalogue scan look like a visitor's phone photo.

Why: the classifier is trained on scans but used on phone photos — slightly off-axis, tilted,
framed a bit loosely or tightly, under warm gallery light, a little blurred, noisy and
JPEG-compressed. Training on a few such views per image makes the head robust to exactly
those changes (and nothing wilder: flips or big crops would teach it that composition does
not matter, which is false for paintings).

Pillow + numpy only (torchvision does not load with this torch build). Every random draw
comes from the ``rng`` passed in, so a view is reproducible from (image, seed, view index),
which is what the feature cache keys on.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

__all__ = ["PhoneAugment", "phone_photo", "view_rng"]


@dataclass(frozen=True)
class PhoneAugment:
    """Strength of each phone-photo effect. The defaults are a mild, realistic hand-held snap."""

    max_perspective: float = 0.06  # corner displacement as a fraction of the side
    max_rotation_deg: float = 4.0
    zoom: tuple[float, float] = (0.85, 1.08)  # <1 crops in, >1 shows a margin of "wall"
    max_shift: float = 0.05
    brightness: tuple[float, float] = (0.75, 1.2)
    contrast: tuple[float, float] = (0.8, 1.15)
    max_warmth: float = 0.12  # white-balance shift towards warm (or cool) light
    blur_prob: float = 0.4
    max_blur_radius: float = 1.2
    noise_sigma: tuple[float, float] = (0.0, 6.0)  # in 0-255 units
    glare_prob: float = 0.25
    jpeg_quality: tuple[int, int] = (55, 92)

    @property
    def version(self) -> str:
        """Part of the feature-cache key: change a number, and cached views are recomputed."""
        return "phone-v1:" + ",".join(f"{v}" for v in self.__dict__.values())

    def __call__(self, img: Image.Image, rng: np.random.Generator) -> Image.Image:
        return phone_photo(img, rng, self)


def view_rng(sha256: str, view: int, seed: int = 0) -> np.random.Generator:
    """The generator for augmented view ``view`` of the image with hash ``sha256``."""
    return np.random.default_rng([int(sha256[:15], 16), view, seed])


def phone_photo(img: Image.Image, rng: np.random.Generator, p: PhoneAugment | None = None) -> Image.Image:
    """One random phone-like view of ``img`` (RGB, same size as the input)."""
    p = p or PhoneAugment()
    img = img.convert("RGB")
    w, h = img.size
    img = _geometry(img, rng, p)
    arr = np.asarray(img, dtype=np.float32)
    arr = _photometric(arr, rng, p)
    if rng.random() < p.glare_prob:
        arr = _glare(arr, rng)
    sigma = rng.uniform(*p.noise_sigma)
    if sigma > 0:
        arr = arr + rng.normal(0.0, sigma, size=arr.shape).astype(np.float32)
    out = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    if rng.random() < p.blur_prob:
        out = out.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.3, p.max_blur_radius))))
    buf = io.BytesIO()
    out.save(buf, format="JPEG", quality=int(rng.integers(p.jpeg_quality[0], p.jpeg_quality[1] + 1)))
    buf.seek(0)
    out = Image.open(buf)
    out.load()
    assert out.size == (w, h)
    return out.convert("RGB")


def _geometry(img: Image.Image, rng: np.random.Generator, p: PhoneAugment) -> Image.Image:
    """Zoom, shift, rotate and tilt in one perspective warp (one resampling, less blur).

    Areas that come into view are filled with a flat, randomly tinted "wall" colour.
    """
    w, h = img.size
    zoom = rng.uniform(*p.zoom)
    angle = np.deg2rad(rng.uniform(-p.max_rotation_deg, p.max_rotation_deg))
    cx = w / 2 + rng.uniform(-p.max_shift, p.max_shift) * w
    cy = h / 2 + rng.uniform(-p.max_shift, p.max_shift) * h
    # Output corners (in the output image) mapped back to source positions.
    half = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    jitter = rng.uniform(-p.max_perspective, p.max_perspective, size=(4, 2)) * [w, h]
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = (half * zoom + jitter) @ rot.T + [cx, cy]
    dst = half + [w / 2, h / 2]
    coeffs = _perspective_coeffs(dst, src)
    wall = tuple(int(v) for v in rng.integers(90, 230, size=3))
    return img.transform((w, h), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BILINEAR, fillcolor=wall)


def _perspective_coeffs(dst: np.ndarray, src: np.ndarray) -> tuple[float, ...]:
    """The 8 coefficients Pillow wants: output pixel (x, y) → input pixel."""
    rows = []
    rhs = []
    for (x, y), (u, v) in zip(dst, src):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs.extend([u, v])
    sol = np.linalg.solve(np.asarray(rows, dtype=np.float64), np.asarray(rhs, dtype=np.float64))
    return tuple(float(c) for c in sol)


def _photometric(arr: np.ndarray, rng: np.random.Generator, p: PhoneAugment) -> np.ndarray:
    """Exposure, contrast and white balance (warm gallery light or cool daylight)."""
    gain = rng.uniform(*p.brightness)
    contrast = rng.uniform(*p.contrast)
    mean = arr.mean()
    arr = (arr - mean) * contrast + mean * gain
    warmth = rng.uniform(-p.max_warmth, p.max_warmth)
    arr = arr * np.array([1 + warmth, 1.0, 1 - warmth], dtype=np.float32)
    return arr


def _glare(arr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A soft specular highlight, as varnish under a spotlight gives."""
    h, w = arr.shape[:2]
    cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    radius = rng.uniform(0.08, 0.25) * min(h, w)
    yy, xx = np.mgrid[0:h, 0:w]
    blob = np.exp(-(((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * radius**2))).astype(np.float32)
    return arr + blob[..., None] * rng.uniform(40, 110)
