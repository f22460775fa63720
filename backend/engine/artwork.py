"""Find the painting in a phone photo and warp it to a fronto-parallel rectangle.

Why: catalogue descriptors are computed on clean scans of the painting alone. A visitor's
snap shows the painting small, framed, off-axis and surrounded by wall; with a plain
centre crop the right painting comes first only ~33 % of the time (DESIGN.md). Cutting the
painting out and undoing the perspective gives the descriptor what it was trained on.

How (all at ``work_side`` px, a few milliseconds):

1. Candidate outlines come from two independent cues, so one failing is not fatal:
   * the wall: a smooth colour model is fitted to the photo's border ring (walls are plain,
     lighting makes them vary slowly) and everything that does not look like wall is a blob;
   * edges: closed Canny contours of the lightness channel.
   Each blob/contour becomes a convex quadrilateral (largest inscribed quad of its hull,
   sides then fitted to the outline).
2. Each quad is scored by what distinguishes a hung artwork from other shapes: its sides
   lie on strong colour edges, the band just outside is plain (wall), it is big but does
   not fill or run off the photo, and its angles are those of a rectangle seen in
   perspective. The best quad wins if its score is convincing.
3. Frames: the winning outline is usually the frame's outer edge. The quad is rectified and
   scanned inward from each side: a frame (and mat) is a band of lines that are uniform
   along their length, ending at an edge at about the same depth on all four sides. That
   inner edge is the painting's outline.
4. Each side is snapped to the strongest nearby edge (a robust line fit to per-sample
   gradient maxima) and corners are re-intersected.

When nothing convincing is found (e.g. the photo is already a tight crop, with no wall), the
result says so (``found=False``, the whole image), so callers can pass the photo on as is.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

import cv2
import numpy as np
from PIL import Image

__all__ = ["ArtworkRegion", "crop_artwork", "locate_artwork", "rectify"]

_MIN_AREA = 0.08  # of the photo: smaller outlines are labels, details, not the artwork
_MAX_AREA = 0.97  # larger is the photo itself (a tight crop)
_FOUND_SCORE = 0.45  # calibrated on simulated snaps vs tight crops (see tests/test_artwork.py)

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
    rgb = _work_image(img, work_side)
    sh, sw = rgb.shape[:2]
    whole = _full_frame(width, height)

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


def rectify(
    img: Image.Image, region: ArtworkRegion, *, out_size: int | tuple[int, int] | None = None
) -> Image.Image:
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
    out = cv2.warpPerspective(np.asarray(img), h, (out_w, out_h), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
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
    edges: np.ndarray  # (h, w) uint8 Canny on lightness
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
        light = cv2.cvtColor(blurred, cv2.COLOR_RGB2GRAY)
        med = float(np.median(light[::4, ::4]))
        edges = cv2.Canny(light, max(10.0, 0.4 * med), max(30.0, 1.0 * med), L2gradient=True)
        return _View(col=col, gx=gx, gy=gy, edges=edges, wall=_wall_mask(cv2.pyrDown(col)))


def _full_frame(width: int, height: int) -> np.ndarray:
    return np.float32([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]])


def _work_image(img: Image.Image, work_side: int) -> np.ndarray:
    """``img`` as RGB uint8 with its longer side <= work_side (box reduce, then bilinear)."""
    img = img.convert("RGB") if img.mode != "RGB" else img
    factor = max(img.size) // work_side
    if factor >= 2:
        img = img.reduce(factor)
    if max(img.size) > work_side:
        k = work_side / max(img.size)
        img = img.resize((max(8, round(img.width * k)), max(8, round(img.height * k))), Image.Resampling.BILINEAR)
    return np.asarray(img)


# --------------------------------------------------------------------------- candidates


def _candidates(view: _View) -> list[np.ndarray]:
    w, h = view.size
    area = float(w * h)
    outlines: list[np.ndarray] = []

    not_wall = cv2.bitwise_not(view.wall)
    not_wall = cv2.morphologyEx(not_wall, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    contours, _ = cv2.findContours(not_wall, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    # half resolution -> work resolution (pixel centres at integers)
    outlines += [c * 2.0 + 0.5 for c in contours if cv2.contourArea(cv2.convexHull(c)) >= _MIN_AREA * area / 4]

    closed = cv2.dilate(view.edges, np.ones((3, 3), np.uint8))
    contours, _ = cv2.findContours(closed, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    big = [(cv2.contourArea(cv2.convexHull(c)), c) for c in contours if len(c) >= 8]
    big = [c for a, c in sorted(big, key=lambda t: -t[0]) if a >= _MIN_AREA * area]
    outlines += big[:10]

    quads = []
    for c in outlines:
        q = _quad_from_outline(c.reshape(-1, 2).astype(np.float32))
        if q is not None:
            quads.append(q)
    return quads


def _wall_mask(col: np.ndarray) -> np.ndarray:
    """255 where a pixel fits a smooth wall colour model fitted to the photo's border ring.

    Walls are plain and lit smoothly, so a quadratic colour surface fitted robustly to the
    border ring (where wall is almost always visible) predicts the wall everywhere.
    """
    h, w = col.shape[:2]
    ring = max(2, round(0.025 * min(w, h)))
    step = 3
    ys = np.r_[np.arange(0, ring), np.arange(h - ring, h)]
    xs = np.arange(0, w, step)
    top_bottom = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)
    ys = np.arange(ring, h - ring, step)
    xs = np.r_[np.arange(0, ring), np.arange(w - ring, w)]
    sides = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)
    pts = np.concatenate([top_bottom, sides])
    values = col[pts[:, 1], pts[:, 0]]
    basis = _basis(pts[:, 0] / w - 0.5, pts[:, 1] / h - 0.5)
    keep = np.ones(len(pts), bool)
    coef = np.zeros((6, 3), np.float32)
    for _ in range(3):  # robust refit: drop ring pixels that are not wall (artwork, labels)
        b = basis[keep]
        coef = np.linalg.solve(b.T @ b + 1e-3 * np.eye(6, dtype=np.float32), b.T @ values[keep])
        res = np.sqrt((((basis @ coef - values) * _WEIGHT) ** 2).sum(1))
        keep_new = res <= max(2.5 * float(np.median(res[keep])), 2.0)
        if keep_new.sum() < 24:
            break
        keep = keep_new
    noise = float(np.median(res[keep]))
    # evaluate the smooth model on a coarse grid and upsample (cheap)
    gh, gw = max(2, h // 8), max(2, w // 8)
    gy, gx = np.mgrid[0:gh, 0:gw].astype(np.float32)
    grid = _basis((gx.ravel() + 0.5) / gw - 0.5, (gy.ravel() + 0.5) / gh - 0.5) @ coef
    model = cv2.resize(grid.reshape(gh, gw, 3).astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    diff = (col - model) * _WEIGHT
    dist = cv2.sqrt(cv2.transform(diff * diff, np.ones((1, 3), np.float32)))
    d8 = np.clip(dist * 4, 0, 255).astype(np.uint8)
    otsu, _ = cv2.threshold(d8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    thresh = max(otsu / 4.0, 3.0 * noise + 2.0)
    wall = (dist <= thresh).astype(np.uint8) * 255
    return cv2.morphologyEx(wall, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))


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
    """How much ``quad`` looks like a hung artwork, about 0..1."""
    w, h = view.size
    area = _area(quad) / (w * h)
    if not (_MIN_AREA <= area <= _MAX_AREA) or not _is_convex(quad):
        return 0.0
    angles = _angles(quad)
    if angles.min() < 45 or angles.max() > 135:
        return 0.0
    sides = np.linalg.norm(quad - np.roll(quad, -1, 0), axis=1)
    if min(sides[0] / sides[2], sides[2] / sides[0], sides[1] / sides[3], sides[3] / sides[1]) < 0.55:
        return 0.0

    support = _edge_support(view, quad)
    wall_out, wall_in = _wall_split(view, quad)
    rect = 1.0 - float(np.abs(angles - 90).mean()) / 45.0
    size = min(1.0, area / 0.2)  # small quads are less likely the subject of the photo
    return float(
        0.4 * (0.5 * support.mean() + 0.5 * support.min())
        + 0.35 * wall_out * (1.0 - wall_in)
        + 0.15 * rect
        + 0.1 * size
    )


def _edge_support(view: _View, quad: np.ndarray, samples: int = 32) -> np.ndarray:
    """Per side: the share of points along it that sit on a strong edge across it."""
    w, h = view.size
    out = np.zeros(4, np.float32)
    f = np.linspace(0.1, 0.9, samples, dtype=np.float32)[:, None]
    for i in range(4):
        a, b = quad[i], quad[(i + 1) % 4]
        pts = a + f * (b - a)
        inside = (pts[:, 0] > 1.5) & (pts[:, 0] < w - 2.5) & (pts[:, 1] > 1.5) & (pts[:, 1] < h - 2.5)
        if not inside.any():
            continue  # a side on the photo's border is not an edge of anything we can see
        g = _across_gradient(view, pts, _normal(a, b), offsets=np.float32([-1, 0, 1])).max(0)
        out[i] = float(((g > _EDGE) & inside).mean())
    return out


def _wall_split(view: _View, quad: np.ndarray) -> tuple[float, float]:
    """Share of wall-like pixels (outside the quad, inside it).

    A hung artwork is surrounded by wall and is not wall itself; a rectangle *within* a
    painting (a window, a panel) is surrounded by more painting. No visible outside (the
    quad fills the photo) counts as no wall.
    """
    wall = view.wall
    inside = np.zeros(wall.shape, np.uint8)
    cv2.fillConvexPoly(inside, np.round(((quad + 0.5) * 0.5 - 0.5) * 16).astype(np.int32), 1, cv2.LINE_8, shift=4)
    n_in = int(inside.sum())
    n_out = inside.size - n_in
    wall_in = int(np.count_nonzero(wall[inside > 0]))
    wall_out = int(np.count_nonzero(wall)) - wall_in
    return (wall_out / n_out if n_out > 0.02 * inside.size else 0.0), wall_in / max(1, n_in)


# --------------------------------------------------------------------------- frame


def _inside_frame(view: _View, quad: np.ndarray) -> np.ndarray | None:
    """If ``quad`` is the outside of a frame (and mat), the quad of the picture inside it."""
    top, bottom = np.linalg.norm(quad[1] - quad[0]), np.linalg.norm(quad[2] - quad[3])
    left, right = np.linalg.norm(quad[3] - quad[0]), np.linalg.norm(quad[2] - quad[1])
    aw, ah = (top + bottom) / 2, (left + right) / 2
    k = 192.0 / max(aw, ah)
    rw, rh = max(16, round(aw * k)), max(16, round(ah * k))
    dst = np.float32([[0, 0], [rw - 1, 0], [rw - 1, rh - 1], [0, rh - 1]])
    hom = cv2.getPerspectiveTransform(quad.astype(np.float32), dst)
    rect = cv2.warpPerspective(view.col, hom, (rw, rh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    depth = int(0.2 * min(rw, rh))
    if depth < 4:
        return None
    # lines parallel to each side, going inwards: (depth, length, 3)
    bands = {
        "top": rect[:depth, int(0.15 * rw): int(0.85 * rw)],
        "bottom": rect[::-1][:depth, int(0.15 * rw): int(0.85 * rw)],
        "left": rect[:, :depth][int(0.15 * rh): int(0.85 * rh)].transpose(1, 0, 2),
        "right": rect[:, ::-1][:, :depth][int(0.15 * rh): int(0.85 * rh)].transpose(1, 0, 2),
    }
    weight = np.float32([0.6, 1, 1])
    ref_rows = rect[int(0.3 * rh): int(0.7 * rh), int(0.3 * rw): int(0.7 * rw)]
    interior = float(np.median(np.linalg.norm(ref_rows.std(1) * weight, axis=1)))
    profiles = {}
    for name, band in bands.items():
        spread = np.linalg.norm(band.std(1) * weight, axis=1)  # (depth,) non-uniformity of each line
        step = np.zeros(depth, np.float32)
        step[1:-1] = np.linalg.norm((band[2:] - band[:-2]) * weight, axis=2).mean(1) / 2
        profiles[name] = (spread, step)

    uniform_limit = max(4.0, 0.45 * interior)

    def best_depth(names: tuple[str, str]) -> tuple[int, float]:
        best = (0, 0.0)
        for d in range(2, depth - 1):
            ok = True
            strength = 0.0
            for name in names:
                spread, step = profiles[name]
                if spread[1 : d - 1].max(initial=0.0) > uniform_limit:
                    ok = False
                    break
                strength += step[d - 1 : d + 2].max()
            if ok and strength / len(names) > 5.0 and strength >= best[1] * 0.8:
                best = (d, strength / len(names))
        return best

    dv, sv = best_depth(("top", "bottom"))
    dh, shh = best_depth(("left", "right"))
    if dv < 2 or dh < 2:
        return None
    if not 0.5 <= dv / dh <= 2.0:
        return None
    inner = np.float32([[dh, dv], [rw - 1 - dh, dv], [rw - 1 - dh, rh - 1 - dv], [dh, rh - 1 - dv]])
    back = cv2.perspectiveTransform(inner[None], np.linalg.inv(hom))[0]
    return back.astype(np.float32)


# --------------------------------------------------------------------------- refinement


def _refine_sides(view: _View, quad: np.ndarray, *, reach: float, samples: int = 40) -> np.ndarray:
    """Move each side onto the strongest edge within ``reach`` px (robust line fit)."""
    offsets = np.arange(-reach, reach + 0.01, 0.5, dtype=np.float32)
    f = np.linspace(0.12, 0.88, samples, dtype=np.float32)[:, None]
    w, h = view.size
    lines = []
    for i in range(4):
        a, b = quad[i], quad[(i + 1) % 4]
        n = _normal(a, b)
        pts = a + f * (b - a)
        g = _across_gradient(view, pts, n, offsets)  # (offsets, samples)
        best = g.argmax(0)
        strength = g.max(0)
        moved = pts + offsets[best][:, None] * n
        inside = (moved[:, 0] > 1) & (moved[:, 0] < w - 2) & (moved[:, 1] > 1) & (moved[:, 1] < h - 2)
        good = inside & (strength > _EDGE)
        direction = (b - a) / max(1e-6, float(np.linalg.norm(b - a)))
        if good.sum() < samples // 3:
            lines.append((a, direction))
            continue
        p = moved[good]
        for _ in range(2):  # drop samples that locked onto something else than the side
            vx, vy, x0, y0 = cv2.fitLine(p, cv2.DIST_L2, 0, 0.01, 0.01).ravel()
            res = np.abs((p - [x0, y0]) @ np.array([-vy, vx]))
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


def _across_gradient(view: _View, pts: np.ndarray, n: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Colour gradient magnitude across direction ``n`` at pts + t*n for each offset t."""
    p = (pts[None, :, :] + offsets[:, None, None] * n[None, None, :]).reshape(-1, 2)
    along_n = _bilinear(view.gx, p) * n[0] + _bilinear(view.gy, p) * n[1]  # (N, 3)
    mag = np.sqrt((along_n * along_n * np.float32([0.5, 1, 1])).sum(1))
    return mag.reshape(len(offsets), len(pts))


def _bilinear(img: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Sample ``img`` (h, w, c<=..) at float points (N, 2) -> (N, c); edges replicate."""
    mx = np.ascontiguousarray(pts[:, 0], np.float32).reshape(1, -1)
    my = np.ascontiguousarray(pts[:, 1], np.float32).reshape(1, -1)
    out = cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(len(pts), -1)


def _area(q: np.ndarray) -> float:
    x, y = q[:, 0], q[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _is_convex(q: np.ndarray) -> bool:
    d = np.roll(q, -1, 0) - q
    cross = d[:, 0] * np.roll(d, -1, 0)[:, 1] - d[:, 1] * np.roll(d, -1, 0)[:, 0]
    return bool((cross > 0).all() or (cross < 0).all())


def _angles(q: np.ndarray) -> np.ndarray:
    a = np.roll(q, 1, 0) - q
    b = np.roll(q, -1, 0) - q
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-9)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))
