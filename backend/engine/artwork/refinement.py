"""Moving a quad's sides onto the edges they stand for, then re-intersecting its corners.

Corners are where detection is least reliable (rounded, blurred, shadowed, hidden by a
frame's mitre); the straight middles of the sides are the most. So both refinements fit a
line per side through evidence along its middle and take the corners from the lines.
"""

from __future__ import annotations

import cv2
import numpy as np

from .colour import EDGE
from .geometry import Line, intersect_sides, unit_normal
from .view import View

__all__ = ["fit_sides_to_outline", "refine_sides"]


def fit_sides_to_outline(quad: np.ndarray, outline: np.ndarray) -> np.ndarray:
    """Refit each side as a line through the ``outline`` points near it, re-intersect corners.

    The quad inscribed in an outline's hull has its corners on the outline's rounded or
    blurred corners; the sides' straight middles are far more reliable.
    """
    lines: list[Line] = []
    for i in range(4):
        a, b = quad[i], quad[(i + 1) % 4]
        d = b - a
        length = float(np.hypot(*d))
        if length < 4:
            return quad
        u = d / length
        n = np.array([-u[1], u[0]])
        rel = outline - a
        along = rel @ u
        across = rel @ n
        near = (along > 0.15 * length) & (along < 0.85 * length) & (np.abs(across) < max(2.0, 0.04 * length))
        if near.sum() >= 4:
            vx, vy, x0, y0 = cv2.fitLine(outline[near], cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
            lines.append((np.array([x0, y0]), np.array([vx, vy])))
        else:
            lines.append((a, u))
    return intersect_sides(lines, fallback=quad)


def refine_sides(view: View, quad: np.ndarray, *, reach: float, samples: int = 40) -> np.ndarray:
    """Move each side onto the strongest edge within ``reach`` px (robust line fit).

    Every sample point along a side jumps to its strongest across-gradient within reach;
    a line is then fitted through the jumps, dropping those that locked onto something else.
    A side with too few strong jumps (a third of its samples) stays where it is.
    """
    offsets = np.arange(-reach, reach + 0.01, 0.5, dtype=np.float32)
    f = np.linspace(0.12, 0.88, samples, dtype=np.float32)[:, None]
    w, h = view.size
    ends = [(quad[i], quad[(i + 1) % 4]) for i in range(4)]
    normals = np.stack([unit_normal(a, b) for a, b in ends])  # (4, 2)
    pts = np.stack([a + f * (b - a) for a, b in ends])  # (4, samples, 2)
    # all sides at once: (offsets, 4, samples, 2) sample grid
    grid = pts[None] + offsets[:, None, None, None] * normals[None, :, None, :]
    grid_normals = np.broadcast_to(normals[None, :, None, :], grid.shape).reshape(-1, 2)
    g = view.edge_strength(grid.reshape(-1, 2), grid_normals).reshape(len(offsets), 4, samples)
    best, strength = g.argmax(0), g.max(0)  # (4, samples)
    moved = pts + offsets[best][..., None] * normals[:, None, :]
    inside = (moved[..., 0] > 1) & (moved[..., 0] < w - 2) & (moved[..., 1] > 1) & (moved[..., 1] < h - 2)
    good = inside & (strength > EDGE)
    lines: list[Line] = []
    for i, (a, b) in enumerate(ends):
        if good[i].sum() < samples // 3:
            lines.append((a, (b - a) / max(1e-6, float(np.linalg.norm(b - a)))))
            continue
        lines.append(_robust_line(moved[i][good[i]]))
    return intersect_sides(lines, fallback=quad)


def _robust_line(points: np.ndarray) -> Line:
    """A line through ``points`` that ignores the few that locked onto another edge.

    Two rounds of least squares drop points far from the fit (beyond 2.5x the median
    residual, at least 1 px) unless that would leave fewer than 4 close ones; a Huber fit
    through what is left gives the line.
    """
    p = points
    for _ in range(2):
        vx, vy, x0, y0 = cv2.fitLine(p, cv2.DIST_L2, 0, 0.01, 0.01).ravel()
        residual = np.abs((p[:, 0] - x0) * -vy + (p[:, 1] - y0) * vx)
        if (residual <= 1.0).sum() < 4:
            break
        p = p[residual <= max(1.0, float(np.median(residual)) * 2.5)]
    vx, vy, x0, y0 = cv2.fitLine(p, cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
    return np.array([x0, y0]), np.array([vx, vy])
