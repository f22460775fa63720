"""Geometric verification: is this catalogue item the flat thing photographed here?

A painting is flat, so every true correspondence between its catalogue image and the photo
obeys one homography. Descriptors are matched (Hamming 2-NN in faiss, Lowe's ratio test),
a homography is fitted with OpenCV's MAGSAC++ (``cv2.USAC_MAGSAC``), and what the fit says
is kept as evidence for :mod:`.decision`: how many matches agree, how much of the painting
they span, and whether the artwork's outline the homography predicts is a sane view of a
rectangle. The outline (the catalogue image's corners carried into the photo) is also where
the artwork is in the photo: the answer's ``corners``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import faiss
import numpy as np

from .faiss_threads import one_faiss_thread
from .local_features import LocalFeatures

__all__ = ["QueryMatcher", "Verification", "outline_is_plausible", "points_inside", "verify"]

RATIO = 0.8
"""Lowe's ratio test: the best match must be clearly better than the second best."""
SAME_PLACE_PX = 3.0
"""Photo keypoints this close (feature pixels) are one place seen twice (in the plain and in
the stretched view of the photo): for such a photo the ratio test compares against the best
match at another place, else a point described twice could never pass it."""
MIN_MATCHES = 10
"""Fewer tentative matches than this cannot make a convincing homography: not fitted."""
REPROJECTION_PX = 5.0
"""MAGSAC's largest inlier residual, in photo feature pixels (about 1 % of the photo)."""
MAX_ITERS = 1000
"""Enough for MAGSAC to find a homography at 10 % inliers with 99.9 % confidence."""


class QueryMatcher:
    """A photo's descriptors, indexed once, that every candidate is matched against.

    ``same_place_px``: photo keypoints closer than this are one place described twice (a
    photo with a second view's keypoints; 0 for one view)."""

    def __init__(self, features: LocalFeatures, *, same_place_px: float = 0.0) -> None:
        self.features = features
        self.same_place_px = same_place_px
        self._index = faiss.IndexBinaryFlat(features.descriptors.shape[1] * 8)
        if len(features):
            self._index.add(np.ascontiguousarray(features.descriptors, np.uint8))

    def match(self, candidate: LocalFeatures) -> tuple[np.ndarray, np.ndarray]:
        """(candidate rows, query rows) of the one-to-one matches passing the ratio test."""
        if len(candidate) == 0 or len(self.features) < 2:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        k = 3 if self.same_place_px > 0 and len(self.features) >= 3 else 2
        with one_faiss_thread():
            dist, nearest = self._index.search(np.ascontiguousarray(candidate.descriptors, np.uint8), k)
        second = dist[:, 1]
        if k == 3:
            xy = self.features.xy
            same = np.linalg.norm(xy[nearest[:, 1]] - xy[nearest[:, 0]], axis=1) <= self.same_place_px
            second = np.where(same, dist[:, 2], second)
        good = dist[:, 0] < RATIO * second
        cand_rows = np.flatnonzero(good)
        query_rows = nearest[good, 0]
        # one-to-one: where several catalogue keypoints chose the same photo keypoint, keep the closest
        order = np.lexsort((dist[good, 0], query_rows))
        first = np.r_[True, query_rows[order][1:] != query_rows[order][:-1]] if len(order) else np.zeros(0, bool)
        keep = order[first]
        return cand_rows[keep], query_rows[keep]


@dataclass(frozen=True)
class Verification:
    """What geometric verification found for one candidate.

    ``homography`` maps the candidate's feature-image pixels into the photo's feature-image
    pixels; ``outline`` is the candidate's corners (TL, TR, BR, BL of the artwork) there.
    ``coverage`` is the share of the artwork's area spanned by the inliers (their convex
    hull, in the catalogue image); ``plausible`` says whether the outline is a sane view of
    a flat rectangle (convex, not mirrored, not absurdly small, large or skewed).
    ``inlier_rows`` are the photo keypoints (rows of the query features) that agreed.
    """

    item_id: int
    matches: int
    inliers: int
    candidate_keypoints: int
    coverage: float
    plausible: bool
    homography: np.ndarray | None
    outline: np.ndarray | None
    inlier_rows: np.ndarray

    @staticmethod
    def failed(item_id: int, matches: int, candidate_keypoints: int) -> Verification:
        return Verification(item_id, matches, 0, candidate_keypoints, 0.0, False, None, None, np.zeros(0, np.int64))


def verify(matcher: QueryMatcher, item_id: int, candidate: LocalFeatures) -> Verification:
    """Match ``candidate`` against the photo and fit a homography (MAGSAC++)."""
    cand_rows, query_rows = matcher.match(candidate)
    if len(cand_rows) < MIN_MATCHES:
        return Verification.failed(item_id, len(cand_rows), len(candidate))
    src = candidate.xy[cand_rows].astype(np.float32)
    dst = matcher.features.xy[query_rows].astype(np.float32)
    homography, mask = cv2.findHomography(
        src, dst, cv2.USAC_MAGSAC, REPROJECTION_PX, maxIters=MAX_ITERS, confidence=0.999
    )
    if homography is None or mask is None:
        return Verification.failed(item_id, len(cand_rows), len(candidate))
    inlier = mask.ravel().astype(bool)
    w, h = candidate.size
    corners = np.asarray([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]], np.float32)
    outline = cv2.perspectiveTransform(corners[None], homography)[0]
    return Verification(
        item_id=item_id,
        matches=len(cand_rows),
        inliers=int(inlier.sum()),
        candidate_keypoints=len(candidate),
        coverage=_hull_share(src[inlier], w * h),
        plausible=outline_is_plausible(outline, matcher.features.size),
        homography=homography,
        outline=outline.astype(np.float32),
        inlier_rows=query_rows[inlier],
    )


def _hull_share(points: np.ndarray, area: float) -> float:
    if len(points) < 3 or area <= 0:
        return 0.0
    hull = cv2.convexHull(points.astype(np.float32))
    return float(min(1.0, cv2.contourArea(hull) / area))


_MIN_AREA = 0.003
"""Of the photo: a smaller outline is a detail matched by chance, not an artwork seen."""
_MAX_AREA = 25.0
"""Of the photo: an outline this much larger means the photo would show a tiny part of it."""
_MIN_SIDE_RATIO = 0.2
"""Opposite sides this unequal are not one rectangle in any plausible perspective."""
_ANGLE_RANGE = (25.0, 155.0)
"""Degrees each corner of a rectangle seen from up to about 65 degrees off-axis stays within."""


def outline_is_plausible(outline: np.ndarray, photo_size: tuple[int, int]) -> bool:
    """Whether ``outline`` (TL, TR, BR, BL) is how a flat rectangle can look in a photo."""
    q = np.asarray(outline, np.float64).reshape(4, 2)
    if not np.all(np.isfinite(q)):
        return False
    d = np.roll(q, -1, 0) - q  # side vectors
    cross = d[:, 0] * np.roll(d, -1, 0)[:, 1] - d[:, 1] * np.roll(d, -1, 0)[:, 0]
    if not (cross > 0).all():  # TL→TR→BR→BL turns clockwise on screen: convex, not mirrored
        return False
    area = _quad_area(q)
    photo_area = float(photo_size[0] * photo_size[1])
    if not (_MIN_AREA * photo_area <= area <= _MAX_AREA * photo_area):
        return False
    lengths = np.linalg.norm(d, axis=1)
    ratio = np.minimum(lengths, np.roll(lengths, 2)) / np.maximum(np.maximum(lengths, np.roll(lengths, 2)), 1e-9)
    if ratio.min() < _MIN_SIDE_RATIO:
        return False
    prev = np.roll(d, 1, 0)
    cos = -(d * prev).sum(1) / np.maximum(lengths * np.roll(lengths, 1), 1e-9)
    angles = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    return bool(((angles >= _ANGLE_RANGE[0]) & (angles <= _ANGLE_RANGE[1])).all())


def _quad_area(q: np.ndarray) -> float:
    x, y = q[:, 0], q[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def points_inside(points: np.ndarray, outline: np.ndarray, *, grow: float = 0.0) -> np.ndarray:
    """(n,) bool: which points lie inside the convex ``outline`` (TL, TR, BR, BL, clockwise on
    screen), grown by ``grow`` (a share of its size) around its centre."""
    q = np.asarray(outline, np.float64).reshape(4, 2)
    centre = q.mean(0)
    q = centre + (q - centre) * (1.0 + grow)
    p = np.asarray(points, np.float64).reshape(-1, 2)
    inside = np.ones(len(p), bool)
    for i in range(4):
        a, b = q[i], q[(i + 1) % 4]
        inside &= (b[0] - a[0]) * (p[:, 1] - a[1]) - (b[1] - a[1]) * (p[:, 0] - a[0]) >= 0
    return inside
