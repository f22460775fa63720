"""Augmentation that makes a clean catalogue scan look like a visitor's phone photo.

Why: the classifier is trained on scans but used on phone photos — slightly off-axis, tilted,
framed a bit loosely or tightly, under warm gallery light, a little blurred, noisy and
JPEG-compressed. Training on a few such views per image makes the head robust to exactly
those changes (and nothing wilder: flips or big crops would teach it that composition does
not matter, which is false for paintings).

The effects are the ones the camera-snap simulator uses (:mod:`dataset_tools.photo_effects`);
this module only decides how strong each is for training.  Every random draw comes from the
``rng`` passed in, so a view is reproducible from (image, seed, view index), which is what
the feature cache keys on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from dataset_tools import photo_effects as fx

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
        # v2: the effects of dataset_tools.photo_effects (blur before sensor noise, uniform
        # noise, coarse-grid glare, OpenCV warp and JPEG)
        return "phone-v2:" + ",".join(f"{v}" for v in self.__dict__.values())

    def __call__(self, img: Image.Image, rng: np.random.Generator) -> Image.Image:
        return phone_photo(img, rng, self)


def view_rng(sha256: str, view: int, seed: int = 0) -> np.random.Generator:
    """The generator for augmented view ``view`` of the image with hash ``sha256``."""
    return np.random.default_rng([int(sha256[:15], 16), view, seed])


def phone_photo(img: Image.Image, rng: np.random.Generator, p: PhoneAugment | None = None) -> Image.Image:
    """One random phone-like view of ``img`` (RGB, same size as the input).

    In the order a camera works: where it points, the light, the lens, the sensor, the JPEG.
    """
    p = p or PhoneAugment()
    src = np.asarray(img.convert("RGB"))
    h, w = src.shape[:2]
    arr = _geometry(src, rng, p).astype(np.float32)
    gain = rng.uniform(*p.brightness)
    contrast = rng.uniform(*p.contrast)
    mean = arr.mean()
    arr = (arr - mean) * np.float32(contrast) + mean
    arr = fx.lighting(arr, exposure=gain, wb_gains=fx.warmth_gains(rng.uniform(-p.max_warmth, p.max_warmth)))
    if rng.random() < p.glare_prob:  # varnish under a spotlight
        center = (rng.uniform(0, w), rng.uniform(0, h))
        arr = fx.glare(arr, center, rng.uniform(0.08, 0.25) * min(h, w), rng.uniform(40, 110) / 255)
    if rng.random() < p.blur_prob:
        arr = fx.defocus_blur(arr, rng.uniform(0.3, p.max_blur_radius))
    img8 = fx.sensor_noise(fx.to_uint8(arr), rng.uniform(*p.noise_sigma), rng)
    out = fx.jpeg_round_trip(img8, int(rng.integers(p.jpeg_quality[0], p.jpeg_quality[1] + 1))).image
    if out.size != (w, h):  # pragma: no cover - every effect keeps the size
        raise AssertionError("phone_photo changed the image size")
    return out.convert("RGB")


def _geometry(img: np.ndarray, rng: np.random.Generator, p: PhoneAugment) -> np.ndarray:
    """Zoom, shift, rotate and tilt in one perspective warp (one resampling, less blur).

    Areas that come into view are filled with a flat, randomly tinted "wall" colour.
    """
    h, w = img.shape[:2]
    zoom = rng.uniform(*p.zoom)
    angle = np.deg2rad(rng.uniform(-p.max_rotation_deg, p.max_rotation_deg))
    cx = w / 2 + rng.uniform(-p.max_shift, p.max_shift) * w
    cy = h / 2 + rng.uniform(-p.max_shift, p.max_shift) * h
    # The source positions that the output's corners show (pixel-edge coordinates).
    half = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    jitter = rng.uniform(-p.max_perspective, p.max_perspective, size=(4, 2)) * [w, h]
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = (half * zoom + jitter) @ rot.T + [cx, cy]
    dst = half + [w / 2, h / 2]
    wall = rng.integers(90, 230, size=3).tolist()
    warped, _ = fx.perspective_warp(img, src - 0.5, dst - 0.5, (w, h), fill=wall)  # OpenCV: pixel centres
    return warped
