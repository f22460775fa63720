"""Simulate a visitor's phone snap of a painting hanging on a museum wall.

Why: the catalogue holds clean scans, but queries are phone photos — a framed painting on a
coloured wall, seen off-axis, tilted, under a warm light with a glare spot, slightly blurred,
noisy and JPEG-compressed. Retrieval quality on clean scans says little about that, and
real snapshots with known painting corners are scarce. This module makes such photos from
any catalogue image, with the ground truth (where the painting's corners landed), so the
artwork locator and the whole search path can be measured and regression-tested.

Every random choice lives in :class:`SnapParams` (drawn by :func:`draw_params`, see
:mod:`dataset_tools.snap_params`); :func:`render_snap` is a pure function of (painting,
params), so a surprising benchmark case can be re-rendered and explained.  It runs in
stages, each a function of the params: the scene (:mod:`dataset_tools.wall_scene`), the
light on it, then the camera (optics, sensor, encoder); the effects themselves are shared
with training augmentation in :mod:`dataset_tools.photo_effects`.  A new effect is a new
field in :class:`SnapParams` and one call in the stage it belongs to.

Speed: the scene is rendered at most 1600 px on the long side and upscaled, then sensor
grain is added at full resolution (latency benchmarks need real-sized phone JPEGs); smooth
effects are computed on coarse grids.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from . import photo_effects as fx
from .images import trim_letterbox
from .snap_params import CHALLENGES, DIFFICULTIES, SnapParams, draw_params
from .wall_scene import hang_painting

__all__ = [
    "CHALLENGES",
    "DIFFICULTIES",
    "Snap",
    "SnapParams",
    "draw_params",
    "render_snap",
    "simulate_snap",
    "trim_letterbox",
]

_RENDER_LONG_SIDE = 1600  # internal resolution cap; above this we upscale (phones are soft anyway)


@dataclass(frozen=True)
class Snap:
    """A simulated phone photo and its ground truth.

    ``corners`` are where the painting's own corners (TL, TR, BR, BL of the painting image,
    inside any frame or mat) landed, in photo pixel coordinates (pixel centres at integers);
    ``frame_corners`` the same for the outer edge of the frame (equal when unframed).
    ``jpeg`` holds the encoded bytes ``photo`` was decoded from, for decode benchmarks.
    ``painting_box`` is the (left, top, right, bottom) part of the input image that was hung
    (all of it unless letterbox bars were trimmed).
    """

    photo: Image.Image
    corners: np.ndarray
    params: SnapParams
    frame_corners: np.ndarray
    jpeg: bytes
    painting_box: tuple[int, int, int, int]


def simulate_snap(
    painting: Image.Image,
    rng: np.random.Generator,
    *,
    out_size: tuple[int, int] = (1024, 768),
    difficulty: str = "default",
    trim_borders: bool = True,
) -> Snap:
    """Draw :class:`SnapParams` from ``rng`` and render the snap (deterministic given ``rng``).

    ``difficulty`` is one of :data:`DIFFICULTIES`: "easy", "default", "hard", a single
    challenge (:data:`CHALLENGES`) or "hardest". ``trim_borders`` removes black letterbox
    bars (as in the 224 px WikiArt set) first: a painting on a wall has none.
    """
    params = draw_params(rng, out_size=out_size, difficulty=difficulty, trim_borders=trim_borders)
    return render_snap(painting, params)


def render_snap(painting: Image.Image, params: SnapParams) -> Snap:
    """Render the snap described by ``params`` (a pure function of its inputs)."""
    out_w, out_h = params.out_size
    scale = min(1.0, _RENDER_LONG_SIDE / max(out_w, out_h))  # internal px per output px
    iw, ih = max(1, round(out_w * scale)), max(1, round(out_h * scale))
    rng = np.random.default_rng(params.seed)

    box = trim_letterbox(painting) if params.trim_borders else (0, 0, *painting.size)
    scene = hang_painting(np.asarray(painting.convert("RGB").crop(box)), params, (iw, ih), scale, rng)
    photo = _light(scene.picture, params, scene.inner * scale)
    img8 = _camera(photo, params, scale, rng)
    encoded = fx.jpeg_round_trip(img8, params.jpeg_quality)
    return Snap(
        photo=encoded.image,
        corners=scene.inner.astype(np.float32),
        params=params,
        frame_corners=scene.outer.astype(np.float32),
        jpeg=encoded.data,
        painting_box=box,
    )


def _light(photo: np.ndarray, p: SnapParams, painting_quad: np.ndarray) -> np.ndarray:
    """The room's light: exposure, white balance, a gradient, vignetting, a glare spot and a
    window's reflection on the painting (``painting_quad`` in render pixels)."""
    photo = fx.lighting(
        photo,
        exposure=p.exposure,
        wb_gains=p.wb_gains,
        gradient=p.light_gradient,
        gradient_angle_deg=p.light_angle_deg,
        vignette=p.vignette,
    )
    if p.glare_strength > 0:
        lo, hi = painting_quad.min(0), painting_quad.max(0)
        center = lo + (hi - lo) * np.asarray(p.glare_center)
        photo = fx.glare(photo, center, p.glare_radius * math.hypot(*photo.shape[1::-1]), p.glare_strength)
    if p.reflection > 0:
        photo = fx.glass_reflection(photo, painting_quad, p.reflection, p.reflection_angle_deg, p.reflection_offset)
    return photo


def _camera(photo: np.ndarray, p: SnapParams, scale: float, rng: np.random.Generator) -> np.ndarray:
    """The phone: lens blur, sensor noise, then the upscale to the output size (uint8 RGB)."""
    photo = fx.blur(photo, p.blur_kind, p.blur_px * scale, p.motion_angle_deg)
    img8 = fx.sensor_noise(fx.to_uint8(photo), p.noise_sigma, rng)
    if img8.shape[1::-1] != p.out_size:
        img8 = cv2.resize(img8, p.out_size, interpolation=cv2.INTER_LINEAR)
        # phones deliver full-resolution grain; a tiled field keeps 12 MP cheap
        img8 = fx.sensor_noise(img8, p.noise_sigma * 0.5, rng, tile=509)
    return img8
