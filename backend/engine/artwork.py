"""Find the painting in a phone photo and warp it to a fronto-parallel rectangle.

Why: catalogue descriptors are computed on clean scans of the painting alone. A visitor's
snap shows the painting small, framed, off-axis and surrounded by wall; with a plain
centre crop the right painting comes first only ~33 % of the time (DESIGN.md). Cutting the
painting out and undoing the perspective gives the descriptor what it was trained on.

How (everything at ``work_side`` px). Speed, measured 2026-11 on the shared 2-core box while
other jobs kept it fully busy: 22-27 ms of one thread's CPU per call at work_side=384 (a
384x288 Gaussian blur took 0.46-0.77 ms there, several times its idle cost). The target is
~8 ms on an idle box; that has not been verified.

1. Candidate quadrilaterals come from two independent cues, so one failing is not fatal:
   * the wall: a smooth (quadratic) colour model is fitted robustly to the photo's border
     ring -- walls are plain and lit smoothly -- and what does not fit is a blob, whose
     hull gives the largest inscribed quad, sides refitted to the outline;
   * straight edges: colour-Canny edge pixels vote in a Hough space restricted to their own
     gradient direction; pairs of near-horizontal and near-vertical lines make quads, ranked
     by how much of each side the edges cover (a side weak in parts still adds up).
2. Each quad is scored by what distinguishes a hung artwork from other shapes: its sides lie
   on colour edges, the band just outside every visible side is wall (and the inside is
   not), it is large, and its angles are those of a rectangle seen within ~30 degrees.
   The best wins if its score is convincing (``_FOUND_SCORE``).
3. Frames: the winner is often the frame's outer edge. The quad is rectified and scanned
   inward from each side: a frame (and mat) is a band of lines that are smooth along their
   length, ending in an edge at the same depth on opposite sides. That edge is the
   painting's outline.
4. Each side is snapped to the strongest nearby edge (robust line fit through per-sample
   gradient maxima) and the corners are re-intersected.

When nothing convincing is found (e.g. the photo is already a tight crop, with no wall), the
result says so (``found=False``, the whole image), so callers can pass the photo on as is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations

import cv2
import numpy as np
from PIL import Image

__all__ = ["ArtworkRegion", "crop_artwork", "locate_artwork", "rectify"]

_MIN_AREA = 0.08  # of the photo: smaller outlines are labels, details, not the artwork
_MAX_AREA = 0.97  # larger is the photo itself (a tight crop)
_MIN_SIDE = 32  # px; a thumbnail this small holds no wall-and-painting scene worth searching
_FOUND_SCORE = 0.6  # calibrated: simulated snaps found score >= 0.64, tight crops mostly < 0.6

# Combination of every (i, j, k, l) vertex choice for hulls up to this many vertices.
_MAX_HULL_VERTS = 16
_QUAD_INDEX = {n: np.array(list(combinations(range(n), 4)), np.int32) for n in range(4, _MAX_HULL_VERTS + 1)}


@dataclass(frozen=True)
class ArtworkRegion:
    """Where the artwork is: ``corners`` (4,2) float32 TL, TR, BR, BL in input pixels.

    ``confidence`` is 0..1 and 0 when nothing was found, in which case ``found`` is False
    and ``corners`` are the corners of the whole image.
    """

    corners: np.ndarray
    confidence: float
    found: bool


def locate_artwork(img: Image.Image, *, work_side: int = 384) -> ArtworkRegion:
    """Locate the (unframed) painting in ``img``. See the module docstring for the method."""
    width, height = img.size
    whole = _full_frame(width, height)
    if min(width, height) < _MIN_SIDE:
        return ArtworkRegion(corners=whole, confidence=0.0, found=False)
    rgb = _work_image(img, work_side)
    sh, sw = rgb.shape[:2]

    view = _View.of(rgb)
    best: tuple[float, np.ndarray] | None = None
    for quad in _candidates(view):
        score = _score(view, quad)
        if best is None or score > best[0]:
            best = (score, quad)
    if best is None or best[0] < _FOUND_SCORE:
        return ArtworkRegion(corners=whole, confidence=0.0, found=False)

    score, quad = best
    quad = _refine_sides(view, quad, reach=3.0)
    inner = _inside_frame(view, quad)
    if inner is not None:
        quad = _refine_sides(view, inner, reach=2.0)
    # back to input pixels (pixel centres at integers in both)
    sx, sy = width / sw, height / sh
    corners = (quad + 0.5) * np.float32([sx, sy]) - 0.5
    corners[:, 0] = np.clip(corners[:, 0], -0.5, width - 0.5)
    corners[:, 1] = np.clip(corners[:, 1], -0.5, height - 0.5)
    return ArtworkRegion(corners=corners.astype(np.float32), confidence=float(min(1.0, score)), found=True)


def rectify(img: Image.Image, region: ArtworkRegion, *, out_size: int | tuple[int, int] | None = None) -> Image.Image:
    """Warp the region's quadrilateral to an upright rectangle.

    The rectangle keeps the quad's aspect ratio (mean lengths of opposite sides). ``out_size``:
    None keeps about the quad's own resolution; an int sets the longer side; a (w, h) tuple
    is taken literally (aspect not kept: the caller asked for exactly that size).
    """
    img = img.convert("RGB") if img.mode != "RGB" else img
    q = np.asarray(region.corners, np.float32).reshape(4, 2)
    top, bottom = np.linalg.norm(q[1] - q[0]), np.linalg.norm(q[2] - q[3])
    left, right = np.linalg.norm(q[3] - q[0]), np.linalg.norm(q[2] - q[1])
    natural_w, natural_h = max(1.0, (top + bottom) / 2), max(1.0, (left + right) / 2)
    if out_size is None:
        out_w, out_h = round(natural_w), round(natural_h)
    elif isinstance(out_size, int):
        k = out_size / max(natural_w, natural_h)
        out_w, out_h = max(1, round(natural_w * k)), max(1, round(natural_h * k))
    else:
        out_w, out_h = int(out_size[0]), int(out_size[1])

    if not region.found:
        return img if (out_w, out_h) == img.size else img.resize((out_w, out_h), Image.Resampling.BICUBIC)

    # Warping samples the source sparsely; shrink it first when the output is much smaller,
    # otherwise a 12 MP photo warped to 224 px aliases badly.
    factor = int(min(natural_w / out_w, natural_h / out_h) // 2)
    if factor >= 2:
        img = img.reduce(factor)
        q = (q + 0.5) / factor - 0.5
    dst = np.float32([[-0.5, -0.5], [out_w - 0.5, -0.5], [out_w - 0.5, out_h - 0.5], [-0.5, out_h - 0.5]])
    h = cv2.getPerspectiveTransform(q, dst)
    out = cv2.warpPerspective(
        np.asarray(img), h, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return Image.fromarray(out)


def crop_artwork(img: Image.Image, *, work_side: int = 384) -> tuple[Image.Image, ArtworkRegion]:
    """Locate and rectify; the image itself when nothing plausible is found."""
    region = locate_artwork(img, work_side=work_side)
    if not region.found:
        return img, region
    return rectify(img, region), region


# --------------------------------------------------------------------------- image views


_OPPONENT = np.float32([[1 / 3, 1 / 3, 1 / 3], [0.5, -0.5, 0.0], [0.25, 0.25, -0.5]])
"""RGB -> (lightness, red-green, yellow-blue). A linear stand-in for Lab: 5x cheaper, and the
locator only needs colour *differences*, not perceptual uniformity."""
_WEIGHT = np.float32([0.5, 1.0, 1.0])
"""Lightness counts half in colour distances: light gradients, shadows and glare change it most."""
_EDGE = 6.0  # colour gradient (opponent units per px) that counts as an edge


@dataclass(frozen=True)
class _View:
    """The work-size photo in the forms every stage needs (computed once)."""

    col: np.ndarray  # (h, w, 3) float32 opponent colour, lightly blurred
    gx: np.ndarray  # (h, w, 3) float32 d/dx of the 3 channels (per pixel units)
    gy: np.ndarray  # (h, w, 3) float32 d/dy
    edges: np.ndarray  # (h, w) uint8 colour-Canny edges
    wall: np.ndarray  # (h/2, w/2) uint8 255 where the pixel looks like the wall (half resolution)

    @property
    def size(self) -> tuple[int, int]:
        return self.col.shape[1], self.col.shape[0]

    @staticmethod
    def of(rgb: np.ndarray) -> _View:
        blurred = cv2.GaussianBlur(rgb, (0, 0), 1.0)
        col = cv2.transform(blurred.astype(np.float32), _OPPONENT)
        gx = cv2.Sobel(col, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)
        gy = cv2.Sobel(col, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
        edges = _colour_canny(gx, gy)
        return _View(col=col, gx=gx, gy=gy, edges=edges, wall=_wall_mask(cv2.pyrDown(col)))


def _colour_canny(gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """Canny edges of any colour channel (their union).

    Lightness alone misses edges between equally bright colours (a pale green painting on a
    beige wall). Each channel is weighted as in colour distances.
    """
    k = 16.0  # fixed-point scale for Canny's int16 derivative inputs
    scale = tuple(float(x) * k for x in _WEIGHT) + (0.0,)
    dx = cv2.split(cv2.multiply(gx, scale, dtype=cv2.CV_16S))
    dy = cv2.split(cv2.multiply(gy, scale, dtype=cv2.CV_16S))
    edges = cv2.Canny(dx[0], dy[0], 0.5 * _EDGE * k, _EDGE * k, L2gradient=True)
    for c in (1, 2):
        edges |= cv2.Canny(dx[c], dy[c], 0.5 * _EDGE * k, _EDGE * k, L2gradient=True)
    return edges


def _full_frame(width: int, height: int) -> np.ndarray:
    return np.float32([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]])


def _work_image(img: Image.Image, work_side: int) -> np.ndarray:
    """``img`` as RGB uint8 with its longer side <= work_side.

    An integer box ``reduce`` does most of the shrinking (cheap and alias-free); the last
    step, less than 2x, is a bilinear resize (the view blurs anyway).
    """
    img = img.convert("RGB") if img.mode != "RGB" else img
    factor = min(max(img.size) // work_side, min(img.size) // _MIN_SIDE)
    if factor >= 2:
        img = img.reduce(factor)
    rgb = np.asarray(img)
    if max(img.size) > work_side:
        k = work_side / max(img.size)
        size = (max(8, round(img.width * k)), max(8, round(img.height * k)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR)
    return rgb


# --------------------------------------------------------------------------- candidates


def _candidates(view: _View) -> list[np.ndarray]:
    """Quads from the two cues: not-wall blobs and pairs of straight edges."""
    w, h = view.size
    min_area = _MIN_AREA * w * h / 4  # the wall mask is at half resolution
    not_wall = cv2.morphologyEx(cv2.bitwise_not(view.wall), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    contours, _ = cv2.findContours(not_wall, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    quads = []
    for c in contours:
        if cv2.contourArea(c) >= 0.5 * min_area and cv2.contourArea(cv2.convexHull(c)) >= min_area:
            q = _quad_from_outline(c.reshape(-1, 2).astype(np.float32) * 2.0 + 0.5)  # to work px
            if q is not None:
                quads.append(q)
    for q in _line_quads(view):
        if all(np.abs(q - other).max() > 2.0 for other in quads):
            quads.append(q)
    return quads


def _line_quads(view: _View, *, per_family: int = 10, keep: int = 6) -> list[np.ndarray]:
    """Quads made of two near-horizontal and two near-vertical straight edges.

    A painting's sides are long straight edges even where parts of them have little contrast
    against the wall (a dark corner on a dark wall); line votes add up along the whole side,
    so such a side is still found where a traced contour would break.
    """
    w, h = view.size
    points = _edge_points(view)
    lines = _hough_lines(view, points)
    if len(lines) < 4:
        return []
    phi = lines[:, 0]
    vertical = (phi < np.pi / 4) | (phi > 3 * np.pi / 4)
    horiz = lines[~vertical][:per_family]
    vert = lines[vertical][:per_family]
    if len(horiz) < 2 or len(vert) < 2:
        return []
    horiz, vert = _refit_lines(horiz, points), _refit_lines(vert, points)
    dil = cv2.dilate(view.edges, np.ones((3, 3), np.uint8)) > 0

    def coverage(ls: np.ndarray, along_x: bool) -> np.ndarray:
        n = w if along_x else h
        t = np.arange(n, dtype=np.float32)
        c, s_ = np.cos(ls[:, :1]), np.sin(ls[:, :1])
        if along_x:
            xs, ys = np.broadcast_to(t, (len(ls), n)), (ls[:, 1:] - t * c) / s_
        else:
            ys, xs = np.broadcast_to(t, (len(ls), n)), (ls[:, 1:] - t * s_) / c
        xi, yi = np.round(xs).astype(np.int32), np.round(ys).astype(np.int32)
        ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
        hit = np.zeros(xi.shape, np.float32)
        hit[ok] = dil[yi[ok], xi[ok]]
        return np.concatenate([np.zeros((len(ls), 1), np.float32), np.cumsum(hit, 1)], 1)

    ch, cv = coverage(horiz, True), coverage(vert, False)
    # intersections of every horizontal i with every vertical j
    ci, si, ri = (np.cos(horiz[:, 0])[:, None], np.sin(horiz[:, 0])[:, None], horiz[:, 1][:, None])
    cj, sj, rj = np.cos(vert[:, 0])[None], np.sin(vert[:, 0])[None], vert[:, 1][None]
    det = ci * sj - si * cj
    det = np.where(np.abs(det) < 1e-6, 1e-6, det)
    ix, iy = (ri * sj - si * rj) / det, (ci * rj - ri * cj) / det  # (nh, nv)

    hi = np.array(list(combinations(range(len(horiz)), 2)))
    vj = np.array(list(combinations(range(len(vert)), 2)))
    # order each pair top/bottom, left/right by position through the image centre
    ypos = (horiz[:, 1] - w / 2 * np.cos(horiz[:, 0])) / np.sin(horiz[:, 0])
    xpos = (vert[:, 1] - h / 2 * np.sin(vert[:, 0])) / np.cos(vert[:, 0])
    hi = np.where((ypos[hi[:, 0]] < ypos[hi[:, 1]])[:, None], hi, hi[:, ::-1])
    vj = np.where((xpos[vj[:, 0]] < xpos[vj[:, 1]])[:, None], vj, vj[:, ::-1])
    t, b = hi[:, 0][:, None], hi[:, 1][:, None]
    lf, r = vj[:, 0][None], vj[:, 1][None]

    def side(cum: np.ndarray, k: np.ndarray, p0: np.ndarray, p1: np.ndarray) -> np.ndarray:
        n = cum.shape[1] - 1
        lo, hi_ = np.minimum(p0, p1), np.maximum(p0, p1)
        a = cum[k, np.clip(lo, 0, n).astype(np.int32)]
        b_ = cum[k, np.clip(hi_, 0, n).astype(np.int32)]
        return (b_ - a) / np.maximum(hi_ - lo, 1.0)

    sup = np.stack(
        [
            side(ch, np.broadcast_to(t, (len(hi), len(vj))), ix[t, lf], ix[t, r]),
            side(cv, np.broadcast_to(r, (len(hi), len(vj))), iy[t, r], iy[b, r]),
            side(ch, np.broadcast_to(b, (len(hi), len(vj))), ix[b, lf], ix[b, r]),
            side(cv, np.broadcast_to(lf, (len(hi), len(vj))), iy[t, lf], iy[b, lf]),
        ]
    )
    score = 0.5 * sup.mean(0) + 0.5 * sup.min(0)
    width = np.minimum(ix[t, r] - ix[t, lf], ix[b, r] - ix[b, lf])
    height = np.minimum(iy[b, lf] - iy[t, lf], iy[b, r] - iy[t, r])
    # Tiny quads are never the artwork (the exact tests come in _score). Shapes *inside* a
    # painting are often crisper than its border, so besides the best-supported quads the
    # largest fairly supported ones go on to full scoring too.
    area = width * height / (w * h)
    plausible = (width > 0.2 * w) & (height > 0.2 * h)
    by_support = np.where(plausible & (score > 0.3), score + 0.3 * area, -1.0)
    by_size = np.where(plausible & (score > 0.4), area, -1.0)
    quads: list[np.ndarray] = []
    for rank in (by_support, by_size):
        taken = 0
        for flat in np.argsort(rank, axis=None)[::-1]:
            a_, c_ = np.unravel_index(flat, rank.shape)
            if rank[a_, c_] < 0 or taken == keep // 2:
                break
            ti, bi, li, ri_ = hi[a_, 0], hi[a_, 1], vj[c_, 0], vj[c_, 1]
            q = np.float32(
                [
                    [ix[ti, li], iy[ti, li]],
                    [ix[ti, ri_], iy[ti, ri_]],
                    [ix[bi, ri_], iy[bi, ri_]],
                    [ix[bi, li], iy[bi, li]],
                ]
            )
            if all(np.abs(q - other).max() > 0.03 * max(w, h) for other in quads):
                quads.append(q)
                taken += 1
    return quads


_N_PHI = 180  # 1-degree bins (2-degree bins were cheaper but lost ~5 % of the hits)
_RHO_STEP = 1.0
_PHI = np.arange(_N_PHI) * (np.pi / _N_PHI)
_COS, _SIN = np.cos(_PHI).astype(np.float32), np.sin(_PHI).astype(np.float32)


def _edge_points(view: _View) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edge pixels (x, y) and their gradient direction in [0, pi) (the line's normal),
    sorted by direction so the pixels of one orientation are a contiguous slice."""
    w = view.size[0]
    idx = np.flatnonzero(view.edges)
    gx = view.gx.reshape(-1, 3)[idx] * _WEIGHT
    gy = view.gy.reshape(-1, 3)[idx] * _WEIGHT
    strongest = (gx * gx + gy * gy).argmax(1)[:, None]  # the channel that made the edge
    ang = np.arctan2(np.take_along_axis(gy, strongest, 1), np.take_along_axis(gx, strongest, 1))[:, 0]
    ang = np.mod(ang, np.pi).astype(np.float32)
    order = np.argsort(ang, kind="stable")
    idx, ang = idx[order], ang[order]
    return (idx % w).astype(np.float32), (idx // w).astype(np.float32), ang


def _hough_lines(view: _View, points: tuple[np.ndarray, np.ndarray, np.ndarray], *, max_lines: int = 30) -> np.ndarray:
    """Straight edges as (phi, rho) rows (x cos phi + y sin phi = rho), strongest first.

    Each edge pixel votes only for orientations within one bin of its own gradient
    direction, which makes this far cheaper than cv2.HoughLines' vote over all angles.
    """
    w, h = view.size
    xf, yf, ang = points
    if len(xf) < 20:
        return np.zeros((0, 2), np.float64)
    half = int(math.ceil(math.hypot(w, h) / _RHO_STEP))
    n_rho = 2 * half + 1
    phi_bin = np.round(ang * (_N_PHI / np.pi)).astype(np.int32)
    votes = []
    for k in (-2, -1, 0, 1, 2):
        pb = np.mod(phi_bin + k, _N_PHI)
        rb = np.round((xf * _COS[pb] + yf * _SIN[pb]) / _RHO_STEP).astype(np.int32) + half
        votes.append(pb * n_rho + rb)
    acc = np.bincount(np.concatenate(votes), minlength=_N_PHI * n_rho).astype(np.float32)
    # Votes of one line split over neighbouring bins: sum them. A tiny ramp breaks ties so a
    # plateau yields one maximum.
    acc = cv2.boxFilter(acc.reshape(_N_PHI, n_rho), -1, (3, 3), normalize=False)
    acc += _tie_ramp(acc.shape)
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
def _tie_ramp(shape: tuple[int, int]) -> np.ndarray:
    """Values < 0.5 that differ per bin and are symmetric under the phi wrap-around mirror."""
    rows, cols = shape
    ramp = np.arange(rows * cols, dtype=np.float32).reshape(rows, cols) * (0.25 / (rows * cols))
    return ramp + ramp[::-1, ::-1]


def _refit_lines(lines: np.ndarray, points: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """Least-squares refit of each (phi, rho) to the edge pixels along it and facing its way.

    1-degree Hough bins are too coarse for the far end of a long side. All lines at once:
    a (lines x pixels) membership matrix times the pixels' moments.
    """
    xs, ys, ang = points
    c = np.cos(lines[:, 0]).astype(np.float32)[:, None]
    s_ = np.sin(lines[:, 0]).astype(np.float32)[:, None]
    dphi = np.abs(ang[None] - lines[:, :1].astype(np.float32))
    member = (np.abs(xs[None] * c + ys[None] * s_ - lines[:, 1:].astype(np.float32)) < 2.5) & (
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
    flip = nx * c[:, 0] + ny * s_[:, 0] < 0
    nx, ny = np.where(flip, -nx, nx), np.where(flip, -ny, ny)
    # a fit pulled more than 4 degrees away by other edges keeps the Hough line
    ok &= nx * c[:, 0] + ny * s_[:, 0] >= math.cos(math.radians(4))
    phi, rho = np.arctan2(ny, nx), mx * nx + my * ny
    neg = phi < 0
    phi, rho = np.where(neg, phi + np.pi, phi), np.where(neg, -rho, rho)
    out = lines.copy()
    out[ok, 0], out[ok, 1] = phi[ok], rho[ok]
    return out


def _wall_mask(col: np.ndarray) -> np.ndarray:
    """255 where a pixel fits a smooth wall colour model fitted to the photo's border ring.

    Walls are plain and lit smoothly, so a quadratic colour surface fitted robustly to the
    border ring (where wall is almost always visible) predicts the wall everywhere.
    """
    h, w = col.shape[:2]
    xs, ys, basis = _ring(w, h)
    values = col[ys, xs]
    keep = np.ones(len(xs), bool)
    coef = np.zeros((6, 3), np.float32)
    res = np.zeros(len(xs), np.float32)
    for _ in range(3):  # robust refit: drop ring pixels that are not wall (artwork, labels)
        b = basis[keep]
        coef = np.linalg.solve(b.T @ b + 1e-3 * np.eye(6, dtype=np.float32), b.T @ values[keep])
        err = (basis @ coef - values) * _WEIGHT
        res = np.sqrt((err * err).sum(1))
        keep_new = res <= max(2.5 * float(np.median(res[keep])), 2.0)
        if keep_new.sum() < 24:
            break
        keep = keep_new
    noise = float(np.median(res[keep]))
    if noise > 8.0:
        # The border ring is not one plain surface: no wall in view (a tight crop, a close-up).
        return np.zeros((h, w), np.uint8)
    # evaluate the smooth model on a coarse grid and upsample (cheap)
    gh, gw = max(2, h // 8), max(2, w // 8)
    gy, gx = np.mgrid[0:gh, 0:gw].astype(np.float32)
    grid = (_basis((gx.ravel() + 0.5) / gw - 0.5, (gy.ravel() + 0.5) / gh - 0.5) @ coef).astype(np.float32)
    model = cv2.resize(grid.reshape(gh, gw, 3), (w, h), interpolation=cv2.INTER_LINEAR)
    diff = cv2.multiply(cv2.subtract(col, model), tuple(float(x) for x in _WEIGHT) + (0.0,))
    dist = cv2.sqrt(cv2.transform(cv2.multiply(diff, diff), np.ones((1, 3), np.float32)))
    otsu, _ = cv2.threshold(cv2.convertScaleAbs(dist, alpha=4.0), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    wall = cv2.compare(dist, max(otsu / 4.0, 3.0 * noise + 2.0), cv2.CMP_LE)
    return cv2.morphologyEx(wall, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))


@lru_cache(maxsize=16)
def _ring(w: int, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample points (every 3rd pixel) of the border ring and their quadratic basis."""
    ring, step = max(2, round(0.025 * min(w, h))), 3
    ys = np.r_[np.arange(0, ring), np.arange(h - ring, h)]
    top_bottom = np.stack(np.meshgrid(np.arange(0, w, step), ys), -1).reshape(-1, 2)
    xs = np.r_[np.arange(0, ring), np.arange(w - ring, w)]
    sides = np.stack(np.meshgrid(xs, np.arange(ring, h - ring, step)), -1).reshape(-1, 2)
    pts = np.concatenate([top_bottom, sides])
    return pts[:, 0], pts[:, 1], _basis(pts[:, 0] / w - 0.5, pts[:, 1] / h - 0.5)


def _basis(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    x, y = np.asarray(x, np.float32), np.asarray(y, np.float32)
    return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], 1)


def _quad_from_outline(points: np.ndarray) -> np.ndarray | None:
    """The largest quadrilateral inscribed in the outline's hull, sides fitted to the outline."""
    hull = cv2.convexHull(points).reshape(-1, 2)
    if len(hull) < 4:
        return None
    peri = cv2.arcLength(hull, True)
    eps = 0.005 * peri
    approx = hull
    while len(approx) > _MAX_HULL_VERTS:
        approx = cv2.approxPolyDP(hull, eps, True).reshape(-1, 2)
        eps *= 1.5
    if len(approx) < 4:
        return None
    idx = _QUAD_INDEX[len(approx)]
    pts = approx[idx]  # (n, 4, 2) in hull (convex, ordered) order
    x, y = pts[..., 0], pts[..., 1]
    areas = 0.5 * np.abs((x * np.roll(y, -1, 1) - y * np.roll(x, -1, 1)).sum(1))
    quad = _order(pts[int(np.argmax(areas))])
    return _fit_sides(quad, hull_points=points)


def _fit_sides(quad: np.ndarray, hull_points: np.ndarray) -> np.ndarray:
    """Refit each side as a line through the outline points near it, re-intersect corners.

    The inscribed quad's corners sit on rounded/blurred corners of the outline; the sides'
    straight middles are far more reliable.
    """
    lines = []
    for i in range(4):
        a, b = quad[i], quad[(i + 1) % 4]
        d = b - a
        length = float(np.hypot(*d))
        if length < 4:
            return quad
        u = d / length
        n = np.array([-u[1], u[0]])
        rel = hull_points - a
        along = rel @ u
        across = rel @ n
        near = (along > 0.15 * length) & (along < 0.85 * length) & (np.abs(across) < max(2.0, 0.04 * length))
        if near.sum() >= 4:
            vx, vy, x0, y0 = cv2.fitLine(hull_points[near], cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
            lines.append((np.array([x0, y0]), np.array([vx, vy])))
        else:
            lines.append((a, u))
    return _intersect_all(lines, fallback=quad)


def _intersect_all(lines: list[tuple[np.ndarray, np.ndarray]], fallback: np.ndarray) -> np.ndarray:
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


def _order(q: np.ndarray) -> np.ndarray:
    """Order 4 points TL, TR, BR, BL (clockwise on screen, starting nearest the top-left)."""
    q = np.asarray(q, np.float32).reshape(4, 2)
    c = q.mean(0)
    q = q[np.argsort(np.arctan2(q[:, 1] - c[1], q[:, 0] - c[0]))]
    start = int(np.argmin(q.sum(1)))
    return np.roll(q, -start, 0)


# --------------------------------------------------------------------------- scoring


def _score(view: _View, quad: np.ndarray) -> float:
    """How much ``quad`` looks like a hung artwork, about 0..1 (0: implausible shape)."""
    w, h = view.size
    q = quad.astype(np.float32)
    d = q[_NEXT] - q  # side vectors
    lengths = np.sqrt((d * d).sum(1))
    cross = d[:, 0] * d[_NEXT, 1] - d[:, 1] * d[_NEXT, 0]
    area = 0.5 * abs(float((q[:, 0] * q[_NEXT, 1] - q[:, 1] * q[_NEXT, 0]).sum())) / (w * h)
    if not (_MIN_AREA <= area <= _MAX_AREA) or not ((cross > 0).all() or (cross < 0).all()):
        return 0.0
    cos = -(d * d[_PREV]).sum(1) / (lengths * lengths[_PREV] + 1e-9)
    dev = np.abs(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))) - 90.0)
    if dev.max() > 30.0:  # not a rectangle seen from within ~30 degrees
        return 0.0
    ratio = lengths / lengths[[2, 3, 0, 1]]
    if min(ratio.min(), (1 / ratio).min()) < 0.55:
        return 0.0

    normals = np.stack([-d[:, 1], d[:, 0]], 1) / (lengths[:, None] + 1e-9)
    normals *= np.sign(((q + 0.5 * d - q.mean(0)) * normals).sum(1))[:, None]  # outwards
    support = _edge_support(view, q, d, normals)
    wall_out, wall_in = _wall_around(view, q, d, normals)
    # the surround must be wall, and clearly more so than the inside (a tight crop's "wall"
    # model fits its own painting about as well inside a quad as outside it)
    wall = float(np.clip((wall_out - 0.5) / 0.4, 0.0, 1.0) * np.clip((wall_out - wall_in) / 0.4, 0.0, 1.0))
    rect = 1.0 - float(dev.mean()) / 45.0
    size = min(1.0, area / 0.3)  # small quads are less likely the subject of the photo
    return float(0.4 * (0.5 * support.mean() + 0.5 * support.min()) + 0.35 * wall + 0.1 * rect + 0.15 * size)


_NEXT = np.array([1, 2, 3, 0])
_PREV = np.array([3, 0, 1, 2])
_SUPPORT_T = np.linspace(0.1, 0.9, 32, dtype=np.float32)
_WALL_T = np.linspace(0.1, 0.9, 12, dtype=np.float32)
_WALL_OFFSETS = np.float32([3, 5, 7, 9])


def _edge_support(view: _View, q: np.ndarray, d: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """Per side: the share of points along it that sit on a strong edge across it.

    Points off the photo count as unsupported: the photo's border is not an edge of anything.
    """
    w, h = view.size
    t = _SUPPORT_T
    p = (q[:, None, :] + t[None, :, None] * d[:, None, :]).reshape(-1, 2)  # (4*32, 2)
    n = np.repeat(normals, len(t), axis=0)
    grid = np.concatenate([p - n, p, p + n])  # one sampling call for offsets -1, 0, +1
    nn = np.concatenate([n, n, n])
    along_n = _bilinear(view.gx, grid) * nn[:, :1] + _bilinear(view.gy, grid) * nn[:, 1:]
    best = np.sqrt((along_n * along_n * _WEIGHT).sum(1)).reshape(3, -1).max(0)
    inside = (p[:, 0] > 1.5) & (p[:, 0] < w - 2.5) & (p[:, 1] > 1.5) & (p[:, 1] < h - 2.5)
    return ((best > _EDGE) & inside).reshape(4, len(t)).mean(1)


def _wall_around(view: _View, q: np.ndarray, d: np.ndarray, normals: np.ndarray) -> tuple[float, float]:
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
    ok = (hx >= 0) & (hx < ww) & (hy >= 0) & (hy < hh)
    is_wall = wall[np.clip(hy, 0, hh - 1), np.clip(hx, 0, ww - 1)] > 0
    shown = ok.mean(1) >= 0.3
    per_side = (is_wall & ok).sum(1) / np.maximum(ok.sum(1), 1)
    inside = np.zeros(wall.shape, np.uint8)
    cv2.fillConvexPoly(inside, np.rint(((q + 0.5) * 0.5 - 0.5) * 16).astype(np.int32), 255, cv2.LINE_8, shift=4)
    wall_in = cv2.countNonZero(cv2.bitwise_and(wall, inside)) / max(1, cv2.countNonZero(inside))
    if shown.sum() < 2:
        return 0.0, wall_in
    return float(per_side[shown].min()), wall_in


# --------------------------------------------------------------------------- frame


def _inside_frame(view: _View, quad: np.ndarray) -> np.ndarray | None:
    """If ``quad`` is the outside of a frame (and mat), the quad of the picture inside it.

    In the rectified quad, lines parallel to a side that run along a frame or mat are smooth
    (a moulding's profile is constant along its length, lighting varies only slowly) while
    lines through the painting are rough. So from each side inwards we look for a smooth
    band that ends in an edge, at the same depth on opposite sides (frames are even).
    """
    top, bottom = np.linalg.norm(quad[1] - quad[0]), np.linalg.norm(quad[2] - quad[3])
    left, right = np.linalg.norm(quad[3] - quad[0]), np.linalg.norm(quad[2] - quad[1])
    aw, ah = (top + bottom) / 2, (left + right) / 2
    k = min(1.0, 160.0 / max(aw, ah))
    rw, rh = max(16, round(aw * k)), max(16, round(ah * k))
    dst = np.float32([[0, 0], [rw - 1, 0], [rw - 1, rh - 1], [0, rh - 1]])
    hom = cv2.getPerspectiveTransform(quad.astype(np.float32), dst)
    rect = cv2.warpPerspective(view.col, hom, (rw, rh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    depth = int(0.22 * min(rw, rh))
    if depth < 6:
        return None
    x0, x1, y0, y1 = int(0.15 * rw), int(0.85 * rw), int(0.15 * rh), int(0.85 * rh)
    # lines parallel to each side, going inwards: (depth, length, 3)
    bands = (
        rect[:depth, x0:x1],
        rect[::-1][:depth, x0:x1],
        rect[y0:y1, :depth].transpose(1, 0, 2),
        rect[y0:y1, ::-1][:, :depth].transpose(1, 0, 2),
    )
    # per side and inset d: roughness of the line at d, edge strength across d
    rough = np.empty((4, depth), np.float32)
    step = np.zeros((4, depth), np.float32)
    for i, band in enumerate(bands):
        along = (band[:, 2:] - band[:, :-2]) * _WEIGHT
        rough[i] = np.sqrt((along * along).sum(2)).mean(1) / 2
        across = (band[2:] - band[:-2]) * _WEIGHT
        step[i, 1:-1] = np.sqrt((across * across).sum(2)).mean(1) / 2
    # For every candidate inset d (vectorised over d): the band's roughest line (lines 0-1
    # straddle the outer edge, so from 2 on), the painting's roughness just inside (median
    # of d+1..d+4) and the strongest edge at d-1..d+1.
    band_rough = np.maximum.accumulate(np.concatenate([np.zeros((4, 4), np.float32), rough[:, 2:]], 1), axis=1)[
        :, :depth
    ]
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(rough, ((0, 0), (0, 5)), mode="edge"), 4, axis=1)
    inside_rough = np.median(windows[:, 1 : depth + 1], axis=2)
    edge = np.maximum(np.maximum(step, np.roll(step, 1, 1)), np.roll(step, -1, 1))
    passes = (band_rough <= np.maximum(2.0, 0.45 * inside_rough)) & (edge >= np.maximum(4.0, 2.5 * band_rough))
    passes[:, :4] = False
    passes[:, depth - 4 :] = False

    def frame_depth(pair: tuple[int, int]) -> int:
        """Inset where both sides show a smooth band ending at a clear edge, or 0.

        The deepest such inset wins (frame + mat: the mat's inner edge); it is then moved to
        the strongest edge nearby, as "still passes" runs a pixel or two past the edge.
        """
        both = np.nonzero(passes[pair[0]] & passes[pair[1]])[0]
        if len(both) == 0:
            return 0
        deepest = int(both[-1])
        lo = max(3, deepest - 3)
        strength = step[pair[0], lo : deepest + 2] + step[pair[1], lo : deepest + 2]
        return lo + int(np.argmax(strength))

    dv = frame_depth((0, 1))
    dh = frame_depth((2, 3))
    if dv == 0 or dh == 0 or not 0.5 <= (dv / rh) / (dh / rw) <= 2.0:
        return None
    inner = np.float32([[dh, dv], [rw - 1 - dh, dv], [rw - 1 - dh, rh - 1 - dv], [dh, rh - 1 - dv]])
    back = cv2.perspectiveTransform(inner[None], np.linalg.inv(hom))[0]
    return back.astype(np.float32)


# --------------------------------------------------------------------------- refinement


def _refine_sides(view: _View, quad: np.ndarray, *, reach: float, samples: int = 40) -> np.ndarray:
    """Move each side onto the strongest edge within ``reach`` px (robust line fit).

    Every sample point along a side jumps to its strongest across-gradient within reach;
    a line is then fitted through the jumps, dropping those that locked onto something else.
    """
    offsets = np.arange(-reach, reach + 0.01, 0.5, dtype=np.float32)
    f = np.linspace(0.12, 0.88, samples, dtype=np.float32)[:, None]
    w, h = view.size
    ends = [(quad[i], quad[(i + 1) % 4]) for i in range(4)]
    normals = np.stack([_normal(a, b) for a, b in ends])  # (4, 2)
    pts = np.stack([a + f * (b - a) for a, b in ends])  # (4, samples, 2)
    # all sides at once: (offsets, 4, samples, 2) sample grid
    grid = pts[None] + offsets[:, None, None, None] * normals[None, :, None, :]
    flat = grid.reshape(-1, 2)
    nrm = np.broadcast_to(normals[None, :, None, :], grid.shape).reshape(-1, 2)
    along_n = _bilinear(view.gx, flat) * nrm[:, :1] + _bilinear(view.gy, flat) * nrm[:, 1:]
    g = np.sqrt((along_n * along_n * _WEIGHT).sum(1)).reshape(len(offsets), 4, samples)
    best, strength = g.argmax(0), g.max(0)  # (4, samples)
    moved = pts + offsets[best][..., None] * normals[:, None, :]
    inside = (moved[..., 0] > 1) & (moved[..., 0] < w - 2) & (moved[..., 1] > 1) & (moved[..., 1] < h - 2)
    good = inside & (strength > _EDGE)
    lines = []
    for i, (a, b) in enumerate(ends):
        if good[i].sum() < samples // 3:
            lines.append((a, (b - a) / max(1e-6, float(np.linalg.norm(b - a)))))
            continue
        p = moved[i][good[i]]
        for _ in range(2):  # drop samples that locked onto something else than the side
            vx, vy, x0, y0 = cv2.fitLine(p, cv2.DIST_L2, 0, 0.01, 0.01).ravel()
            res = np.abs((p[:, 0] - x0) * -vy + (p[:, 1] - y0) * vx)
            if (res <= 1.0).sum() < 4:
                break
            p = p[res <= max(1.0, float(np.median(res)) * 2.5)]
        vx, vy, x0, y0 = cv2.fitLine(p, cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
        lines.append((np.array([x0, y0]), np.array([vx, vy])))
    return _intersect_all(lines, fallback=quad)


# --------------------------------------------------------------------------- geometry


def _normal(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = b - a
    n = np.array([-d[1], d[0]], np.float32)
    return n / max(1e-6, float(np.linalg.norm(n)))


def _bilinear(img: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Sample ``img`` (h, w, c<=..) at float points (N, 2) -> (N, c); edges replicate."""
    mx = np.ascontiguousarray(pts[:, 0], np.float32).reshape(1, -1)
    my = np.ascontiguousarray(pts[:, 1], np.float32).reshape(1, -1)
    out = cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(len(pts), -1)
