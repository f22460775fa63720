"""How much a candidate quad looks like a hung artwork (about 0..1).

What distinguishes a hung artwork from the other shapes in a photo: its sides lie on colour
edges, the band just outside every visible side is wall (and the inside is not), it is
large, and its angles are those of a rectangle seen within ~30 degrees.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .colour import EDGE
from .geometry import NEXT, PREV
from .view import View

__all__ = [
    "MAX_ANGLE_DEVIATION",
    "MAX_AREA",
    "MIN_AREA",
    "MIN_SIDE_RATIO",
    "QuadShape",
    "quad_evidence",
    "quad_shape",
]

MIN_AREA = 0.08
"""Of the photo: smaller outlines are labels, details, not the artwork."""
MAX_AREA = 0.97
"""Larger is the photo itself (a tight crop)."""
MAX_ANGLE_DEVIATION = 30.0
"""Degrees a corner may differ from 90: a rectangle seen from within ~30 degrees."""
MIN_SIDE_RATIO = 0.55
"""Opposite sides shorter than this share of each other are not one rectangle in perspective."""

_SUPPORT_T = np.linspace(0.1, 0.9, 32, dtype=np.float32)
"""Where along each side edge support is sampled (the ends are the corners, often rounded)."""
_WALL_T = np.linspace(0.1, 0.9, 12, dtype=np.float32)
"""Where along each side the band outside it is sampled for wall."""
_WALL_OFFSETS = np.asarray([3, 5, 7, 9], dtype=np.float32)
"""px outwards from a side at which the band outside it is sampled."""


@dataclass(frozen=True)
class QuadShape:
    """A candidate quad's shape, which a :class:`~.locate.Looking`'s limits gate: its ``area`` (a
    share of the photo), whether it is ``convex``, and how far from a rectangle seen head-on
    it is (the largest and the mean deviation of a corner from 90 degrees, the smallest ratio
    of opposite sides)."""

    area: float
    convex: bool
    max_deviation: float
    mean_deviation: float
    min_side_ratio: float

    def passes(self, *, min_area: float, max_angle_deviation: float, min_side_ratio: float) -> bool:
        return (
            min_area <= self.area <= MAX_AREA
            and self.convex
            and self.max_deviation <= max_angle_deviation
            and self.min_side_ratio >= min_side_ratio
        )


def quad_shape(view: View, quad: np.ndarray) -> QuadShape:
    w, h = view.size
    q = quad.astype(np.float32)
    d = q[NEXT] - q  # side vectors
    lengths = np.sqrt((d * d).sum(1))
    cross = d[:, 0] * d[NEXT, 1] - d[:, 1] * d[NEXT, 0]
    area = 0.5 * abs(float((q[:, 0] * q[NEXT, 1] - q[:, 1] * q[NEXT, 0]).sum())) / (w * h)
    cos = -(d * d[PREV]).sum(1) / (lengths * lengths[PREV] + 1e-9)
    deviation = np.abs(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))) - 90.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = lengths / lengths[[2, 3, 0, 1]]
        side_ratio = float(min(ratio.min(), (1 / ratio).min()))
    return QuadShape(
        area=area,
        convex=bool((cross > 0).all() or (cross < 0).all()),
        max_deviation=float(deviation.max()),
        mean_deviation=float(deviation.mean()),
        min_side_ratio=side_ratio if np.isfinite(side_ratio) else 0.0,
    )


def quad_evidence(view: View, quad: np.ndarray, shape: QuadShape) -> float:
    """How much a quad whose shape passed the limits looks like a hung artwork, about 0..1:
    its sides on edges, wall around it, its squareness and its size (the limits do not
    enter, so one computation serves every :class:`~.locate.Looking`)."""
    q = quad.astype(np.float32)
    d = q[NEXT] - q
    lengths = np.sqrt((d * d).sum(1))
    normals = np.stack([-d[:, 1], d[:, 0]], 1) / (lengths[:, None] + 1e-9)
    normals *= np.sign(((q + 0.5 * d - q.mean(0)) * normals).sum(1))[:, None]  # outwards
    support = _edge_support(view, q, d, normals)
    wall_out, wall_in = _wall_around(view, q, d, normals)
    # the surround must be wall, and clearly more so than the inside (a tight crop's "wall"
    # model fits its own painting about as well inside a quad as outside it)
    wall = float(np.clip((wall_out - 0.5) / 0.4, 0.0, 1.0) * np.clip((wall_out - wall_in) / 0.4, 0.0, 1.0))
    rect = 1.0 - shape.mean_deviation / 45.0
    size = min(1.0, shape.area / 0.3)  # small quads are less likely the subject of the photo
    return float(0.4 * (0.5 * support.mean() + 0.5 * support.min()) + 0.35 * wall + 0.1 * rect + 0.15 * size)


def _edge_support(view: View, q: np.ndarray, d: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """Per side: the share of points along it that sit on a strong edge across it.

    Each point may be a pixel off (the best of offsets -1, 0, +1 along the normal). Points
    off the photo count as unsupported: the photo's border is not an edge of anything.
    """
    w, h = view.size
    t = _SUPPORT_T
    along = (q[:, None, :] + t[None, :, None] * d[:, None, :]).reshape(-1, 2)  # (4*32, 2)
    n = np.repeat(normals, len(t), axis=0)
    grid = np.concatenate([along - n, along, along + n])  # one sampling call for offsets -1, 0, +1
    best = view.edge_strength(grid, np.concatenate([n, n, n])).reshape(3, -1).max(0)
    inside = (along[:, 0] > 1.5) & (along[:, 0] < w - 2.5) & (along[:, 1] > 1.5) & (along[:, 1] < h - 2.5)
    support: np.ndarray = ((best > EDGE) & inside).reshape(4, len(t)).mean(1)
    return support


def _wall_around(view: View, q: np.ndarray, d: np.ndarray, normals: np.ndarray) -> tuple[float, float]:
    """(how wall-like the *least* wall-like side's outer band is, share of wall inside).

    A hung artwork has wall along every side it shows; a shape *within* a painting (a
    window, a panel: what a tight crop offers) has painting on at least one side. Sides on
    the photo's border show nothing and are skipped, but two must show.
    (Tried: also accepting wall at frame-like distances, so a painting whose frame runs off
    the photo still scores; it let inner/outer line mixtures win and cost ~20 % of the
    precise hits.)
    """
    wall = view.wall
    hh, ww = wall.shape
    # (4 sides, 12 along, 4 outwards) points in half-resolution pixels
    pts = (
        q[:, None, None, :]
        + _WALL_T[None, :, None, None] * d[:, None, None, :]
        + _WALL_OFFSETS[None, None, :, None] * normals[:, None, None, :]
    )
    hx = np.rint((pts[..., 0] + 0.5) * 0.5 - 0.5).astype(np.int32).reshape(4, -1)
    hy = np.rint((pts[..., 1] + 0.5) * 0.5 - 0.5).astype(np.int32).reshape(4, -1)
    on_photo = (hx >= 0) & (hx < ww) & (hy >= 0) & (hy < hh)
    is_wall = wall[np.clip(hy, 0, hh - 1), np.clip(hx, 0, ww - 1)] > 0
    shown = on_photo.mean(1) >= 0.3
    per_side = (is_wall & on_photo).sum(1) / np.maximum(on_photo.sum(1), 1)
    inside = np.zeros(wall.shape, np.uint8)
    cv2.fillConvexPoly(inside, np.rint(((q + 0.5) * 0.5 - 0.5) * 16).astype(np.int32), 255, cv2.LINE_8, shift=4)
    wall_in = cv2.countNonZero(cv2.bitwise_and(wall, inside)) / max(1, cv2.countNonZero(inside))
    if shown.sum() < 2:
        return 0.0, wall_in
    return float(per_side[shown].min()), wall_in
