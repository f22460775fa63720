"""Small geometry shared by the locator's stages: corner order, side lines, sampling.

A quad is a (4, 2) float32 array of corners TL, TR, BR, BL in work pixels (pixel centres at
integers). A side line is ``(point, direction)``; side ``i`` runs from corner ``i`` to corner
``i + 1``, so corner ``i`` is where sides ``i - 1`` and ``i`` meet.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = [
    "NEXT",
    "PREV",
    "Line",
    "bilinear",
    "full_frame",
    "intersect_sides",
    "order_corners",
    "quadratic_basis",
    "unit_normal",
]

NEXT = np.array([1, 2, 3, 0])
"""Index of the next corner (clockwise on screen) of each corner: ``q[NEXT] - q`` are the sides."""
PREV = np.array([3, 0, 1, 2])
"""Index of the previous corner of each corner."""

Line = tuple[np.ndarray, np.ndarray]
"""A straight line as (a point on it, its direction)."""


def full_frame(width: int, height: int) -> np.ndarray:
    """The corners of a whole ``width`` x ``height`` image, TL, TR, BR, BL."""
    return np.asarray([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], dtype=np.float32)


def order_corners(points: np.ndarray) -> np.ndarray:
    """Order 4 points TL, TR, BR, BL (clockwise on screen, starting nearest the top-left).

    Sorting by angle around the centre gives a consistent winding whatever order the points
    came in (a hull's, a detector's); the start is the corner with the smallest x + y.
    """
    q = np.asarray(points, np.float32).reshape(4, 2)
    centre = q.mean(0)
    q = q[np.argsort(np.arctan2(q[:, 1] - centre[1], q[:, 0] - centre[0]))]
    start = int(np.argmin(q.sum(1)))
    return np.roll(q, -start, 0)


def unit_normal(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Unit normal (float32) of the segment from ``a`` to ``b``: its direction turned by +90 degrees.

    For a side of a quad in TL, TR, BR, BL order this points into the quad.
    """
    d = b - a
    n = np.array([-d[1], d[0]], np.float32)
    normal: np.ndarray = n / max(1e-6, float(np.linalg.norm(n)))
    return normal


def intersect_sides(lines: list[Line], fallback: np.ndarray) -> np.ndarray:
    """The quad whose corner ``i`` is where side lines ``i - 1`` and ``i`` cross.

    Refitting sides one at a time can go wrong (neighbouring sides nearly parallel, a side
    pulled onto another edge); then the corners jump far. ``fallback``, the quad before the
    refit, is returned instead when any corner would move more than a quarter of its extent.
    """
    corners = []
    for i in range(4):
        (p1, d1), (p2, d2) = lines[(i - 1) % 4], lines[i]
        m = np.array([[d1[0], -d2[0]], [d1[1], -d2[1]]])
        if abs(np.linalg.det(m)) < 1e-6:
            return fallback
        t = np.linalg.solve(m, p2 - p1)
        corners.append(p1 + t[0] * d1)
    out = np.array(corners, np.float32)
    if np.abs(out - fallback).max() > 0.25 * max(np.ptp(fallback, 0)):
        return fallback  # a bad fit (nearly parallel neighbours): keep what we had
    return out


def bilinear(img: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Sample ``img`` (h, w, c) at float points (N, 2) as x, y -> (N, c); edges replicate."""
    mx = np.ascontiguousarray(points[:, 0], np.float32).reshape(1, -1)
    my = np.ascontiguousarray(points[:, 1], np.float32).reshape(1, -1)
    out = cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(out).reshape(len(points), -1)


def quadratic_basis(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(N, 6) float32 terms 1, x, y, x², xy, y² of a quadratic surface at the points (x, y)."""
    x, y = np.asarray(x, np.float32), np.asarray(y, np.float32)
    return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], 1)
