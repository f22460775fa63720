"""A visitor's snap of a wall with two or three framed paintings on it.

The same simulator as :mod:`dataset_tools.camera_snap`, with several paintings: each gets
its frame (:func:`dataset_tools.wall_scene.framed_canvas`), they hang side by side on one
painted wall, and the phone sees the whole wall through one homography (so the paintings
keep their relative perspective), then the room's light and the phone's camera stages of a
single snap apply. The true corners of every painting come back with the photo, so a bench
can ask whether each painting was found as a region of the answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np
from PIL import Image

from . import photo_effects as fx
from .camera_snap import _camera, _light, trim_letterbox
from .snap_params import SnapParams, draw_params
from .wall_scene import framed_canvas, wall

__all__ = ["WallSnap", "simulate_wall"]

MAX_WALL_YAW = 25.0
"""Degrees off-axis at most: further round, the far painting is too thin to be anyone's target."""


@dataclass(frozen=True)
class WallSnap:
    """The photo and, per painting (in the order given), its corners TL, TR, BR, BL in
    photo pixels (pixel centres at integers)."""

    photo: Image.Image
    jpeg: bytes
    corners: list[np.ndarray]
    params: SnapParams


def simulate_wall(
    paintings: list[Image.Image],
    rng: np.random.Generator,
    *,
    out_size: tuple[int, int] = (1280, 720),
    difficulty: str = "default",
) -> WallSnap:
    """Hang ``paintings`` left to right on a wall and photograph it (deterministic given ``rng``).

    Light and camera (exposure, glare, blur, noise, JPEG) are drawn as for one snap of
    ``difficulty``; the view of the wall takes that snap's yaw and roll, gentler.
    """
    p = draw_params(rng, out_size=out_size, difficulty=difficulty)
    p = replace(p, yaw_deg=float(np.clip(p.yaw_deg, -MAX_WALL_YAW, MAX_WALL_YAW)) * 0.6, roll_deg=p.roll_deg * 0.5)
    scale = min(1.0, 1600 / max(out_size))
    iw, ih = round(out_size[0] * scale), round(out_size[1] * scale)
    local = np.random.default_rng(p.seed)
    ww, wh = round(iw * 1.3), round(ih * 1.3)  # the wall is larger than the view: no edge shows
    flat = wall(ww, wh, p, local)
    slot = iw / (len(paintings) + 0.25)  # within the part of the wall in view
    mx = (ww - iw) / 2
    flat_inner = []
    for i, img in enumerate(paintings):
        arr = np.asarray(img.convert("RGB").crop(trim_letterbox(img)))
        aspect = arr.shape[1] / arr.shape[0]
        border = (p.frame_width + p.mat_width) * min(aspect, 1.0)  # per unit of painting height
        # as large as the slot allows, frame included (the framed canvas is sized by its outer edge)
        height = min(0.9 * slot / (aspect + 2 * border), 0.62 * ih / (1 + 2 * border)) * local.uniform(0.9, 1.0)
        ow, oh = height * (aspect + 2 * border), height * (1 + 2 * border)
        quad = np.float32([[0, 0], [ow, 0], [ow, oh], [0, oh]])
        canvas, _, b = framed_canvas(arr, p, quad, local)
        ch, cw = canvas.shape[:2]
        x0 = round(mx + slot * (i + 0.625) - cw / 2 + local.uniform(-0.04, 0.04) * slot)
        y0 = round(wh * (0.5 + local.uniform(-0.05, 0.05)) - ch / 2)
        flat[y0 : y0 + ch, x0 : x0 + cw] = canvas
        x1, y1 = x0 + b - 0.5, y0 + b - 0.5
        x2, y2 = x0 + cw - b - 0.5, y0 + ch - b - 0.5
        flat_inner.append(np.float32([[x1, y1], [x2, y1], [x2, y2], [x1, y2]]))
    homography = _view(ww, wh, iw, ih, p)
    picture = cv2.warpPerspective(flat, homography, (iw, ih), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inner_render = [cv2.perspectiveTransform(q[None], homography)[0] for q in flat_inner]
    middle = inner_render[len(inner_render) // 2]
    img8 = _camera(_light(picture, p, middle), p, scale, local)
    encoded = fx.jpeg_round_trip(img8, p.jpeg_quality)
    corners = [((q + 0.5) / scale - 0.5).astype(np.float32) for q in inner_render]
    return WallSnap(photo=encoded.image, jpeg=encoded.data, corners=corners, params=p)


def _view(ww: int, wh: int, iw: int, ih: int, p: SnapParams) -> np.ndarray:
    """Wall pixels → render pixels: the wall's central part, one side nearer (yaw), tilted (roll)."""
    mx, my = (ww - iw) / 2, (wh - ih) / 2
    src = np.float32([[mx, my], [ww - mx, my], [ww - mx, wh - my], [mx, wh - my]])
    squeeze = math.sin(math.radians(abs(p.yaw_deg))) * ih * 0.5
    near_right = p.yaw_deg > 0
    dst = np.float32(
        [
            [0, squeeze / 2 if near_right else 0],
            [iw, 0 if near_right else squeeze / 2],
            [iw, ih if near_right else ih - squeeze / 2],
            [0, ih - squeeze / 2 if near_right else ih],
        ]
    )
    roll = cv2.getRotationMatrix2D((iw / 2, ih / 2), p.roll_deg, 1.0)
    h: np.ndarray = np.vstack([roll, [0, 0, 1]]) @ cv2.getPerspectiveTransform(src, dst)
    return h
