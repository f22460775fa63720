"""Photos of a wall with several framed paintings on it, for recognition tests.

A simple stand-in until the harder camera simulator exists: each painting gets a frame, is
hung side by side on a plain wall, and the wall is seen slightly off-axis (one homography for
the whole wall, so the paintings keep their relative perspective), then lightly blurred,
noised and JPEG-encoded. The true corners of every painting in the photo come back with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image


@dataclass(frozen=True)
class WallPhoto:
    jpeg: bytes
    size: tuple[int, int]
    #: per painting, its corners TL, TR, BR, BL in photo pixels (same order as the paintings given)
    corners: list[np.ndarray]


def wall_photo(
    paintings: list[Image.Image],
    rng: np.random.Generator,
    *,
    out_size: tuple[int, int] = (1280, 720),
    wall_rgb: tuple[int, int, int] = (214, 208, 196),
    yaw: float = 0.12,
) -> WallPhoto:
    """Hang ``paintings`` left to right on a wall and photograph it (deterministic given ``rng``)."""
    out_w, out_h = out_size
    # the flat wall, 1.25x the photo so the perspective warp never shows its edge
    wall_w, wall_h = int(out_w * 1.25), int(out_h * 1.25)
    wall = np.empty((wall_h, wall_w, 3), np.float32)
    wall[:] = wall_rgb
    wall += rng.normal(0, 2.0, wall.shape).astype(np.float32)
    slot = wall_w / (len(paintings) + 0.4)
    flat_corners = []
    for i, p in enumerate(paintings):
        arr = np.asarray(p.convert("RGB"), np.float32)
        k = min(0.62 * slot / arr.shape[1], 0.5 * wall_h / arr.shape[0])
        w, h = int(arr.shape[1] * k), int(arr.shape[0] * k)
        cx = slot * (i + 0.7) + rng.uniform(-0.04, 0.04) * slot
        cy = wall_h * (0.5 + rng.uniform(-0.05, 0.05))
        x0, y0 = int(cx - w / 2), int(cy - h / 2)
        frame = max(4, int(0.06 * min(w, h)))
        colour = rng.uniform(40, 200, 3).astype(np.float32)
        wall[y0 - frame : y0 + h + frame, x0 - frame : x0 + w + frame] = colour
        wall[y0 : y0 + h, x0 : x0 + w] = cv2.resize(arr, (w, h), interpolation=cv2.INTER_AREA)
        flat_corners.append(
            np.float32(
                [[x0 - 0.5, y0 - 0.5], [x0 + w - 0.5, y0 - 0.5], [x0 + w - 0.5, y0 + h - 0.5], [x0 - 0.5, y0 + h - 0.5]]
            )
        )
    # the camera: the wall's central part, seen with a little yaw (one side nearer)
    margin_x, margin_y = (wall_w - out_w) / 2, (wall_h - out_h) / 2
    src = np.float32(
        [
            [margin_x, margin_y],
            [wall_w - margin_x, margin_y],
            [wall_w - margin_x, wall_h - margin_y],
            [margin_x, wall_h - margin_y],
        ]
    )
    squeeze = yaw * out_h
    dst = np.float32([[0, 0], [out_w, squeeze / 2], [out_w, out_h - squeeze / 2], [0, out_h]])
    homography = cv2.getPerspectiveTransform(src, dst)
    photo = cv2.warpPerspective(
        wall, homography, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    photo = cv2.GaussianBlur(photo, (0, 0), 0.7)
    photo += rng.normal(0, 2.5, photo.shape).astype(np.float32)
    img8 = np.clip(photo, 0, 255).astype(np.uint8)
    ok, enc = cv2.imencode(".jpg", cv2.cvtColor(img8, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
    assert ok
    corners = [cv2.perspectiveTransform(c[None], homography)[0] for c in flat_corners]
    return WallPhoto(jpeg=enc.tobytes(), size=out_size, corners=corners)
