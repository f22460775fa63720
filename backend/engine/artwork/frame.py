"""Frames: from the outside of a frame (and mat) to the picture inside it.

The best-scoring quad is often the frame's outer edge: it has the strongest contrast with
the wall. In the rectified quad, lines parallel to a side that run along a frame or mat are
smooth (a moulding's profile is constant along its length, lighting varies only slowly)
while lines through the painting are rough. So from each side inwards we look for a smooth
band that ends in an edge, at the same depth on opposite sides (frames are even).
"""

from __future__ import annotations

import cv2
import numpy as np

from .colour import WEIGHT
from .view import View

__all__ = ["inside_frame"]

_RECTIFIED_SIDE = 160.0
"""px; the quad is rectified to at most this (enough to see a frame's profile, and cheap)."""
_MAX_DEPTH = 0.22
"""A frame (with mat) is at most this share of the rectified quad's shorter side deep."""

# The sides of the rectified quad, scanned inwards: top, bottom, left, right.
_TOP, _BOTTOM, _LEFT, _RIGHT = 0, 1, 2, 3


def inside_frame(view: View, quad: np.ndarray) -> np.ndarray | None:
    """If ``quad`` is the outside of a frame (and mat), the quad of the picture inside it."""
    top, bottom = np.linalg.norm(quad[1] - quad[0]), np.linalg.norm(quad[2] - quad[3])
    left, right = np.linalg.norm(quad[3] - quad[0]), np.linalg.norm(quad[2] - quad[1])
    aw, ah = (top + bottom) / 2, (left + right) / 2
    k = np.minimum(1.0, _RECTIFIED_SIDE / np.maximum(aw, ah))
    rw, rh = max(16, round(aw * k)), max(16, round(ah * k))
    dst = np.asarray([[0, 0], [rw - 1, 0], [rw - 1, rh - 1], [0, rh - 1]], dtype=np.float32)
    hom = cv2.getPerspectiveTransform(quad.astype(np.float32), dst)
    rect = cv2.warpPerspective(view.col, hom, (rw, rh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    depth = int(_MAX_DEPTH * min(rw, rh))
    if depth < 6:
        return None
    roughness, step = _profiles(np.asarray(rect), depth)
    passes = _frame_insets(roughness, step)
    depth_v = _frame_depth(passes, step, (_TOP, _BOTTOM))
    depth_h = _frame_depth(passes, step, (_LEFT, _RIGHT))
    if depth_v == 0 or depth_h == 0 or not 0.5 <= (depth_v / rh) / (depth_h / rw) <= 2.0:
        return None  # no frame on one axis, or one much deeper than the other: not a frame
    inner = np.asarray(
        [
            [depth_h, depth_v],
            [rw - 1 - depth_h, depth_v],
            [rw - 1 - depth_h, rh - 1 - depth_v],
            [depth_h, rh - 1 - depth_v],
        ],
        dtype=np.float32,
    )
    back = cv2.perspectiveTransform(inner[None], np.linalg.inv(hom))[0]
    return np.asarray(back).astype(np.float32)


def _profiles(rect: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """(roughness, step), each (4 sides, depth): per side and inset d, how rough the line
    parallel to the side at d is, and how strong the edge across d is (both colour units/px)."""
    rh, rw = rect.shape[:2]
    # 15 % of each side's length is left out at both ends: a frame's mitred corners
    x0, x1, y0, y1 = int(0.15 * rw), int(0.85 * rw), int(0.15 * rh), int(0.85 * rh)
    # lines parallel to each side, going inwards: (depth, length, 3)
    bands = (
        rect[:depth, x0:x1],
        rect[::-1][:depth, x0:x1],
        rect[y0:y1, :depth].transpose(1, 0, 2),
        rect[y0:y1, ::-1][:, :depth].transpose(1, 0, 2),
    )
    roughness = np.empty((4, depth), np.float32)
    step = np.zeros((4, depth), np.float32)
    for i, band in enumerate(bands):
        along = (band[:, 2:] - band[:, :-2]) * WEIGHT
        roughness[i] = np.sqrt((along * along).sum(2)).mean(1) / 2
        across = (band[2:] - band[:-2]) * WEIGHT
        step[i, 1:-1] = np.sqrt((across * across).sum(2)).mean(1) / 2
    return roughness, step


def _frame_insets(roughness: np.ndarray, step: np.ndarray) -> np.ndarray:
    """(4, depth) bool: insets d at which a side looks like the inner edge of a frame.

    That is: every line of the band outside d is smooth (compared with the painting just
    inside d), and there is a clear edge at d. Vectorised over d: the band's roughest line
    (lines 0-1 straddle the outer edge, so from 2 on), the painting's roughness just inside
    (median of d+1..d+4) and the strongest edge at d-1..d+1.
    """
    depth = roughness.shape[1]
    band_rough = np.maximum.accumulate(np.concatenate([np.zeros((4, 4), np.float32), roughness[:, 2:]], 1), axis=1)[
        :, :depth
    ]
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(roughness, ((0, 0), (0, 5)), mode="edge"), 4, axis=1)
    inside_rough = np.median(windows[:, 1 : depth + 1], axis=2)
    edge = np.maximum(np.maximum(step, np.roll(step, 1, 1)), np.roll(step, -1, 1))
    smooth_band = band_rough <= np.maximum(2.0, 0.45 * inside_rough)
    clear_edge = edge >= np.maximum(4.0, 2.5 * band_rough)
    passes: np.ndarray = smooth_band & clear_edge
    passes[:, :4] = False
    passes[:, depth - 4 :] = False
    return passes


def _frame_depth(passes: np.ndarray, step: np.ndarray, opposite: tuple[int, int]) -> int:
    """Inset where both ``opposite`` sides show a smooth band ending at a clear edge, or 0.

    The deepest such inset wins (frame + mat: the mat's inner edge); it is then moved to
    the strongest edge nearby, as "still passes" runs a pixel or two past the edge.
    """
    first, second = opposite
    both = np.nonzero(passes[first] & passes[second])[0]
    if len(both) == 0:
        return 0
    deepest = int(both[-1])
    lo = max(3, deepest - 3)
    strength = step[first, lo : deepest + 2] + step[second, lo : deepest + 2]
    return lo + int(np.argmax(strength))
