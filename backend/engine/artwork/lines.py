"""Straight edges of the photo as lines ``x cos(phi) + y sin(phi) = rho``.

A painting's sides are long straight edges even where parts of them have little contrast
against the wall; votes along a whole line add up where a traced contour would break. Lines
are (phi, rho) rows, phi in [0, pi) being the direction of the line's normal.
"""

from __future__ import annotations

import math
from functools import lru_cache

import cv2
import numpy as np

from .colour import WEIGHT
from .view import View

__all__ = ["EdgePoints", "edge_points", "hough_lines", "line_crossings", "refit_lines", "x_at", "y_at"]

_N_PHI = 180  # 1-degree bins (2-degree bins were cheaper but lost ~5 % of the hits)
_RHO_STEP = 1.0
_PHI = np.arange(_N_PHI) * (np.pi / _N_PHI)
_COS, _SIN = np.cos(_PHI).astype(np.float32), np.sin(_PHI).astype(np.float32)

EdgePoints = tuple[np.ndarray, np.ndarray, np.ndarray]
"""Edge pixels as float32 arrays (x, y, gradient direction in [0, pi)), sorted by direction."""


def edge_points(view: View) -> EdgePoints:
    """Edge pixels (x, y) and their gradient direction in [0, pi) (the line's normal),
    sorted by direction so the pixels of one orientation are a contiguous slice."""
    w = view.size[0]
    idx = np.flatnonzero(view.edges)
    gx = view.gx.reshape(-1, 3)[idx] * WEIGHT
    gy = view.gy.reshape(-1, 3)[idx] * WEIGHT
    strongest = (gx * gx + gy * gy).argmax(1)[:, None]  # the channel that made the edge
    ang = np.arctan2(np.take_along_axis(gy, strongest, 1), np.take_along_axis(gx, strongest, 1))[:, 0]
    ang = np.mod(ang, np.pi).astype(np.float32)
    order = np.argsort(ang, kind="stable")
    idx, ang = idx[order], ang[order]
    return (idx % w).astype(np.float32), (idx // w).astype(np.float32), ang


def hough_lines(view: View, points: EdgePoints, *, max_lines: int = 30) -> np.ndarray:
    """Straight edges as float64 (phi, rho) rows, strongest first.

    Each edge pixel votes only for orientations within two bins of its own gradient
    direction, which makes this far cheaper than cv2.HoughLines' vote over all angles.
    """
    w, h = view.size
    xs, ys, ang = points
    if len(xs) < 20:
        return np.zeros((0, 2), np.float64)
    half = int(math.ceil(math.hypot(w, h) / _RHO_STEP))
    n_rho = 2 * half + 1
    phi_bin = np.round(ang * (_N_PHI / np.pi)).astype(np.int32)
    votes = []
    for k in (-2, -1, 0, 1, 2):
        pb = np.mod(phi_bin + k, _N_PHI)
        rb = np.round((xs * _COS[pb] + ys * _SIN[pb]) / _RHO_STEP).astype(np.int32) + half
        votes.append(pb * n_rho + rb)
    acc = np.bincount(np.concatenate(votes), minlength=_N_PHI * n_rho).astype(np.float32)
    # Votes of one line split over neighbouring bins: sum them. A tiny ramp breaks ties so a
    # plateau yields one maximum.
    acc = np.asarray(cv2.boxFilter(acc.reshape(_N_PHI, n_rho), -1, (3, 3), normalize=False))
    acc += _tie_ramp(acc.shape[0], acc.shape[1])
    # Local maxima over +-3 degrees and +-6 px. phi wraps around: phi ~ 179 degrees is phi ~ -1
    # with rho negated, so the window sees mirrored copies of the rows at the other end.
    pad = 3
    ext = np.concatenate([acc[-pad:, ::-1], acc, acc[:pad, ::-1]], 0)
    peak = cv2.dilate(ext, np.ones((2 * pad + 1, 13), np.uint8))[pad:-pad]
    strong = np.flatnonzero((acc >= 0.1 * min(w, h)) & (acc >= peak))
    if len(strong) == 0:
        return np.zeros((0, 2), np.float64)
    order = strong[np.argsort(-acc.ravel()[strong])][:max_lines]
    out = np.stack([order // n_rho * (np.pi / _N_PHI), (order % n_rho - half) * _RHO_STEP], 1)
    return out.astype(np.float64)


@lru_cache(maxsize=8)
def _tie_ramp(rows: int, cols: int) -> np.ndarray:
    """Values < 0.5 that differ per bin and are symmetric under the phi wrap-around mirror."""
    ramp = np.arange(rows * cols, dtype=np.float32).reshape(rows, cols) * (0.25 / (rows * cols))
    return ramp + ramp[::-1, ::-1]


def refit_lines(lines: np.ndarray, points: EdgePoints) -> np.ndarray:
    """Least-squares refit of each (phi, rho) to the edge pixels along it and facing its way.

    1-degree Hough bins are too coarse for the far end of a long side. All lines at once:
    a (lines x pixels) membership matrix times the pixels' moments.
    """
    xs, ys, ang = points
    cos = np.cos(lines[:, 0]).astype(np.float32)[:, None]
    sin = np.sin(lines[:, 0]).astype(np.float32)[:, None]
    dphi = np.abs(ang[None] - lines[:, :1].astype(np.float32))
    member = (np.abs(xs[None] * cos + ys[None] * sin - lines[:, 1:].astype(np.float32)) < 2.5) & (
        np.minimum(dphi, np.pi - dphi) < math.radians(8)
    )
    moments = np.stack([np.ones_like(xs), xs, ys, xs * xs, ys * ys, xs * ys], 1).astype(np.float64)
    n, sx, sy, sxx, syy, sxy = (member.astype(np.float64) @ moments).T
    ok = n >= 10
    n = np.maximum(n, 1)
    mx, my = sx / n, sy / n
    vxx, vyy, vxy = sxx / n - mx * mx, syy / n - my * my, sxy / n - mx * my
    theta = 0.5 * np.arctan2(2 * vxy, vxx - vyy)  # direction of largest spread
    nx, ny = -np.sin(theta), np.cos(theta)
    flip = nx * cos[:, 0] + ny * sin[:, 0] < 0
    nx, ny = np.where(flip, -nx, nx), np.where(flip, -ny, ny)
    # a fit pulled more than 4 degrees away by other edges keeps the Hough line
    ok &= nx * cos[:, 0] + ny * sin[:, 0] >= math.cos(math.radians(4))
    phi, rho = np.arctan2(ny, nx), mx * nx + my * ny
    neg = phi < 0
    phi, rho = np.where(neg, phi + np.pi, phi), np.where(neg, -rho, rho)
    out = lines.copy()
    out[ok, 0], out[ok, 1] = phi[ok], rho[ok]
    return out


def y_at(lines: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(L, N): the y of each of L (non-vertical) lines at each of N positions ``x``."""
    y: np.ndarray = (lines[:, 1:] - x * np.cos(lines[:, :1])) / np.sin(lines[:, :1])
    return y


def x_at(lines: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(L, N): the x of each of L (non-horizontal) lines at each of N positions ``y``."""
    x: np.ndarray = (lines[:, 1:] - y * np.sin(lines[:, :1])) / np.cos(lines[:, :1])
    return x


def line_crossings(horizontal: np.ndarray, vertical: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x, y), each (n horizontal, n vertical): where every horizontal line crosses every vertical one.

    Cramer's rule on the two line equations; nearly parallel pairs (which near-horizontal
    and near-vertical lines never are) get a tiny determinant instead of a division by zero.
    """
    cos_h, sin_h, rho_h = (
        np.cos(horizontal[:, 0])[:, None],
        np.sin(horizontal[:, 0])[:, None],
        horizontal[:, 1][:, None],
    )
    cos_v, sin_v, rho_v = np.cos(vertical[:, 0])[None], np.sin(vertical[:, 0])[None], vertical[:, 1][None]
    det = cos_h * sin_v - sin_h * cos_v
    det = np.where(np.abs(det) < 1e-6, 1e-6, det)
    return (rho_h * sin_v - sin_h * rho_v) / det, (cos_h * rho_v - rho_h * cos_v) / det
