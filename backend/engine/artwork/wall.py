"""The wall: a smooth colour model of what surrounds the artwork, and where the photo fits it.

Walls are plain and lit smoothly, so a quadratic colour surface fitted robustly to the
photo's border ring (where wall is almost always visible) predicts the wall everywhere.
What does not fit it is the artwork (or a label, a neighbour): the first source of
candidate quads, and the test that a candidate has wall around it and not inside.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from .colour import WEIGHT
from .geometry import quadratic_basis

__all__ = ["wall_mask"]

_MAX_NOISE = 8.0
"""Median misfit of the ring above which it is not one plain surface (no wall in view)."""


def wall_mask(col: np.ndarray) -> np.ndarray:
    """uint8 mask, 255 where a pixel of ``col`` (opponent colour) fits the wall's colour model.

    All zeros when the border ring itself is not one plain surface: a tight crop or a
    close-up shows no wall, and then nothing should be judged by one.
    """
    h, w = col.shape[:2]
    xs, ys, basis = _border_ring(w, h)
    values = col[ys, xs]
    keep = np.ones(len(xs), bool)
    coef = np.zeros((6, 3), np.float32)
    residual = np.zeros(len(xs), np.float32)
    for _ in range(3):  # robust refit: drop ring pixels that are not wall (artwork, labels)
        b = basis[keep]
        coef = np.linalg.solve(b.T @ b + 1e-3 * np.eye(6, dtype=np.float32), b.T @ values[keep])
        err = (basis @ coef - values) * WEIGHT
        residual = np.sqrt((err * err).sum(1))
        keep_new = residual <= max(2.5 * float(np.median(residual[keep])), 2.0)
        if keep_new.sum() < 24:
            break
        keep = keep_new
    noise = float(np.median(residual[keep]))
    if noise > _MAX_NOISE:
        return np.zeros((h, w), np.uint8)
    # evaluate the smooth model on a coarse grid and upsample (cheap)
    gh, gw = max(2, h // 8), max(2, w // 8)
    gy, gx = np.mgrid[0:gh, 0:gw].astype(np.float32)
    grid = (quadratic_basis((gx.ravel() + 0.5) / gw - 0.5, (gy.ravel() + 0.5) / gh - 0.5) @ coef).astype(np.float32)
    model = cv2.resize(grid.reshape(gh, gw, 3), (w, h), interpolation=cv2.INTER_LINEAR)
    diff = cv2.multiply(cv2.subtract(col, model), tuple(float(x) for x in WEIGHT) + (0.0,))  # type: ignore[call-overload]  # cv2 takes a Scalar here; its stubs list arrays only
    dist = cv2.sqrt(cv2.transform(cv2.multiply(diff, diff), np.ones((1, 3), np.float32)))
    otsu, _ = cv2.threshold(cv2.convertScaleAbs(dist, alpha=4.0), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    wall = cv2.compare(dist, max(otsu / 4.0, 3.0 * noise + 2.0), cv2.CMP_LE)  # type: ignore[call-overload]  # cv2 takes a Scalar here; its stubs list arrays only
    return np.asarray(cv2.morphologyEx(wall, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)))


@lru_cache(maxsize=16)
def _border_ring(w: int, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample points (x, y; every 3rd pixel) of the border ring and their quadratic basis."""
    ring, step = max(2, round(0.025 * min(w, h))), 3
    ys = np.r_[np.arange(0, ring), np.arange(h - ring, h)]
    top_bottom = np.stack(np.meshgrid(np.arange(0, w, step), ys), -1).reshape(-1, 2)
    xs = np.r_[np.arange(0, ring), np.arange(w - ring, w)]
    sides = np.stack(np.meshgrid(xs, np.arange(ring, h - ring, step)), -1).reshape(-1, 2)
    pts = np.concatenate([top_bottom, sides])
    return pts[:, 0], pts[:, 1], quadratic_basis(pts[:, 0] / w - 0.5, pts[:, 1] / h - 0.5)
