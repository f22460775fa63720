"""Where candidate quads come from: two independent cues, so one failing is not fatal.

* The wall (:mod:`.wall`): what does not fit the wall's colour model is a blob; the
  largest quad inscribed in its hull, sides refitted to the outline, is a candidate.
* Straight edges (:mod:`.lines`): two near-horizontal and two near-vertical lines make a
  quad; the quads whose sides the edges cover best (and the largest fairly covered ones)
  are candidates.

Candidates are only proposals: :mod:`.scoring` decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import cv2
import numpy as np

from .geometry import order_corners
from .lines import edge_points, hough_lines, line_crossings, refit_lines, x_at, y_at
from .refinement import fit_sides_to_outline
from .scoring import MIN_AREA
from .view import View

__all__ = ["candidate_quads", "line_quads", "quad_from_outline", "wall_blob_quads"]

_MAX_HULL_VERTS = 16
"""Hulls are simplified to at most this many vertices before every 4 of them are tried."""
_QUAD_INDEX = {n: np.array(list(combinations(range(n), 4)), np.int32) for n in range(4, _MAX_HULL_VERTS + 1)}
"""For a hull of n vertices, every (i, j, k, l) choice of 4 of them, in hull order."""


def candidate_quads(view: View, *, min_area: float = MIN_AREA) -> list[np.ndarray]:
    """Quads from the two cues: not-wall blobs (of at least ``min_area`` of the photo) and
    pairs of straight edges.

    A line quad within 2 px of a blob quad is the same proposal and is left out.
    """
    quads = wall_blob_quads(view, min_area=min_area)
    for q in line_quads(view):
        if all(np.abs(q - other).max() > 2.0 for other in quads):
            quads.append(q)
    return quads


def wall_blob_quads(view: View, *, min_area: float = MIN_AREA) -> list[np.ndarray]:
    """One quad per blob of not-wall of at least ``min_area`` of the photo (in work pixels)."""
    w, h = view.size
    min_area = min_area * w * h / 4  # the wall mask is at half resolution
    not_wall = cv2.morphologyEx(cv2.bitwise_not(view.wall), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    contours, _ = cv2.findContours(not_wall, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    quads = []
    for c in contours:
        if cv2.contourArea(c) >= 0.5 * min_area and cv2.contourArea(cv2.convexHull(c)) >= min_area:
            q = quad_from_outline(c.reshape(-1, 2).astype(np.float32) * 2.0 + 0.5)  # to work px
            if q is not None:
                quads.append(q)
    return quads


def quad_from_outline(points: np.ndarray) -> np.ndarray | None:
    """The largest quadrilateral inscribed in the outline's hull, sides fitted to the outline.

    None when the hull has fewer than 4 vertices (a sliver, a line).
    """
    hull = np.asarray(cv2.convexHull(points)).reshape(-1, 2)
    if len(hull) < 4:
        return None
    peri = cv2.arcLength(hull, True)
    eps = 0.005 * peri
    approx = hull
    while len(approx) > _MAX_HULL_VERTS:
        approx = np.asarray(cv2.approxPolyDP(hull, eps, True)).reshape(-1, 2)
        eps *= 1.5
    if len(approx) < 4:
        return None
    pts = approx[_QUAD_INDEX[len(approx)]]  # (n, 4, 2) in hull (convex, ordered) order
    x, y = pts[..., 0], pts[..., 1]
    areas = 0.5 * np.abs((x * np.roll(y, -1, 1) - y * np.roll(x, -1, 1)).sum(1))  # shoelace
    quad = order_corners(pts[int(np.argmax(areas))])
    return fit_sides_to_outline(quad, outline=points)


# --------------------------------------------------------------------------- line quads


def line_quads(view: View, *, per_family: int = 10, keep: int = 6) -> list[np.ndarray]:
    """Quads made of two near-horizontal and two near-vertical straight edges.

    A painting's sides are long straight edges even where parts of them have little contrast
    against the wall (a dark corner on a dark wall); line votes add up along the whole side,
    so such a side is still found where a traced contour would break.

    The ``per_family`` strongest lines of each orientation make every possible quad; each
    is judged by how much of its four sides lie on edges. Up to ``keep`` distinct quads go
    on: half the best supported, half the largest fairly supported ones (shapes *inside* a
    painting are often crisper than its border, so support alone would miss the painting).
    """
    w, h = view.size
    points = edge_points(view)
    lines = hough_lines(view, points)
    if len(lines) < 4:
        return []
    horizontal, vertical = _split_by_orientation(lines, per_family)
    if len(horizontal) < 2 or len(vertical) < 2:
        return []
    horizontal, vertical = refit_lines(horizontal, points), refit_lines(vertical, points)
    grid = _QuadGrid.of(horizontal, vertical, w, h)

    on_edge = cv2.dilate(view.edges, np.ones((3, 3), np.uint8)) > 0  # a side may be a pixel off
    support = grid.side_support(
        _cumulative_coverage(horizontal, on_edge, along_x=True),
        _cumulative_coverage(vertical, on_edge, along_x=False),
    )
    score = 0.5 * support.mean(0) + 0.5 * support.min(0)  # a side weak in parts still adds up
    width, height = grid.width_height()
    # Tiny quads are never the artwork (the exact tests come in scoring).
    area = width * height / (w * h)
    plausible = (width > 0.2 * w) & (height > 0.2 * h)
    by_support = np.where(plausible & (score > 0.3), score + 0.3 * area, -1.0)
    by_size = np.where(plausible & (score > 0.4), area, -1.0)
    quads: list[np.ndarray] = []
    for rank in (by_support, by_size):
        _take_distinct(grid, rank, keep // 2, min_distance=0.03 * max(w, h), into=quads)
    return quads


def _split_by_orientation(lines: np.ndarray, per_family: int) -> tuple[np.ndarray, np.ndarray]:
    """(near-horizontal, near-vertical) lines, the ``per_family`` strongest of each.

    A line's phi is its normal's direction: a normal within 45 degrees of the x axis makes
    the line near-vertical.
    """
    phi = lines[:, 0]
    vertical = (phi < np.pi / 4) | (phi > 3 * np.pi / 4)
    return lines[~vertical][:per_family], lines[vertical][:per_family]


def _cumulative_coverage(lines: np.ndarray, on_edge: np.ndarray, *, along_x: bool) -> np.ndarray:
    """(L, n + 1): for each line, how many of its first 0..n pixels lie on an edge.

    The line is walked one pixel at a time along x (near-horizontal lines) or y
    (near-vertical ones), n being the photo's width or height. With the running count,
    the edge share of any stretch of the line, such as a quad's side between two corners,
    is one subtraction: every candidate quad's sides cost no more than one.
    """
    h, w = on_edge.shape
    n = w if along_x else h
    steps = np.arange(n, dtype=np.float32)
    walked = np.broadcast_to(steps, (len(lines), n))
    if along_x:
        xs, ys = walked, y_at(lines, steps)
    else:
        xs, ys = x_at(lines, steps), walked
    xi, yi = np.round(xs).astype(np.int32), np.round(ys).astype(np.int32)
    on_photo = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
    hit = np.zeros(xi.shape, np.float32)
    hit[on_photo] = on_edge[yi[on_photo], xi[on_photo]]
    return np.concatenate([np.zeros((len(lines), 1), np.float32), np.cumsum(hit, 1)], 1)


def _edge_share(coverage: np.ndarray, line: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Share of the pixels between positions ``start`` and ``end`` of ``line`` that lie on an edge.

    ``coverage`` is :func:`_cumulative_coverage` of the lines; ``line`` indexes it and
    broadcasts with ``start`` and ``end`` (positions along x or y, either order). Positions
    off the photo are clipped to it: that part of a side counts as not covered.
    """
    n = coverage.shape[1] - 1
    lo, hi = np.minimum(start, end), np.maximum(start, end)
    covered_to_lo = coverage[line, np.clip(lo, 0, n).astype(np.int32)]
    covered_to_hi = coverage[line, np.clip(hi, 0, n).astype(np.int32)]
    share: np.ndarray = (covered_to_hi - covered_to_lo) / np.maximum(hi - lo, 1.0)
    return share


@dataclass(frozen=True)
class _QuadGrid:
    """Every quad two horizontal and two vertical lines make, as arrays over (P, Q).

    P indexes the pairs of horizontal lines, Q the pairs of vertical ones; a pair's lines
    are ordered top/bottom and left/right by where they cross the middle of the photo.
    """

    top: np.ndarray  # (P, 1) index of the upper horizontal line of each pair
    bottom: np.ndarray  # (P, 1) the lower one
    left: np.ndarray  # (1, Q) index of the left vertical line of each pair
    right: np.ndarray  # (1, Q) the right one
    xs: np.ndarray  # (P, Q, 4) x of the corners TL, TR, BR, BL (float64)
    ys: np.ndarray  # (P, Q, 4) y of the corners

    @staticmethod
    def of(horizontal: np.ndarray, vertical: np.ndarray, w: int, h: int) -> _QuadGrid:
        cross_x, cross_y = line_crossings(horizontal, vertical)
        h_pairs = _ordered_pairs(y_at(horizontal, np.asarray([w / 2]))[:, 0])
        v_pairs = _ordered_pairs(x_at(vertical, np.asarray([h / 2]))[:, 0])
        top, bottom = h_pairs[:, 0][:, None], h_pairs[:, 1][:, None]
        left, right = v_pairs[:, 0][None], v_pairs[:, 1][None]
        corners = ((top, left), (top, right), (bottom, right), (bottom, left))
        return _QuadGrid(
            top=top,
            bottom=bottom,
            left=left,
            right=right,
            xs=np.stack([cross_x[i, j] for i, j in corners], -1),
            ys=np.stack([cross_y[i, j] for i, j in corners], -1),
        )

    def side_support(self, h_coverage: np.ndarray, v_coverage: np.ndarray) -> np.ndarray:
        """(4, P, Q): the share of each side (top, right, bottom, left) that lies on edges."""
        (tl_x, tr_x, br_x, bl_x), (tl_y, tr_y, br_y, bl_y) = np.moveaxis(self.xs, -1, 0), np.moveaxis(self.ys, -1, 0)
        return np.stack(
            [
                _edge_share(h_coverage, self.top, tl_x, tr_x),
                _edge_share(v_coverage, self.right, tr_y, br_y),
                _edge_share(h_coverage, self.bottom, bl_x, br_x),
                _edge_share(v_coverage, self.left, tl_y, bl_y),
            ]
        )

    def width_height(self) -> tuple[np.ndarray, np.ndarray]:
        """(P, Q) each: the shorter of the top and bottom sides' x extent, of the left and right sides' y extent."""
        (tl_x, tr_x, br_x, bl_x), (tl_y, tr_y, br_y, bl_y) = np.moveaxis(self.xs, -1, 0), np.moveaxis(self.ys, -1, 0)
        return np.minimum(tr_x - tl_x, br_x - bl_x), np.minimum(bl_y - tl_y, br_y - tr_y)

    def quad(self, p: int, q: int) -> np.ndarray:
        """(4, 2) float32 corners TL, TR, BR, BL of the quad of horizontal pair p and vertical pair q."""
        return np.stack([self.xs[p, q], self.ys[p, q]], 1).astype(np.float32)


def _ordered_pairs(positions: np.ndarray) -> np.ndarray:
    """(n choose 2, 2): every pair of lines, the one at the smaller ``positions`` first."""
    pairs = np.array(list(combinations(range(len(positions)), 2)))
    first_is_smaller = positions[pairs[:, 0]] < positions[pairs[:, 1]]
    return np.where(first_is_smaller[:, None], pairs, pairs[:, ::-1])


def _take_distinct(
    grid: _QuadGrid, rank: np.ndarray, limit: int, *, min_distance: float, into: list[np.ndarray]
) -> None:
    """Append to ``into`` up to ``limit`` quads of ``grid``, best ``rank`` first (negative:
    never), each differing from every quad already there by more than ``min_distance`` px."""
    taken = 0
    for flat in np.argsort(rank, axis=None)[::-1]:
        p, q = np.unravel_index(flat, rank.shape)
        if rank[p, q] < 0 or taken == limit:
            break
        quad = grid.quad(int(p), int(q))
        if all(np.abs(quad - other).max() > min_distance for other in into):
            into.append(quad)
            taken += 1
