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

import math
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
"""Photo keypoints this close (feature pixels) are one place seen more than once (in the plain
view of the photo, its stretched view, a rectified view of a painting seen from the side):
for such a photo the ratio test compares against the best match at another place, else a
point described in several views could never pass it."""
MIN_MATCHES = 10
"""Fewer tentative matches than this cannot make a convincing homography: not fitted."""
REPROJECTION_PX = 5.0
"""MAGSAC's largest inlier residual, in photo feature pixels (about 1 % of the photo)."""
MAX_ITERS = 1000
"""Enough for MAGSAC to find a homography at 10 % inliers with 99.9 % confidence."""


class QueryMatcher:
    """A photo's descriptors, indexed once, that every candidate is matched against.

    ``same_place_px``: photo keypoints closer than this are one place described again (a
    photo with other views' keypoints; 0 for one view). ``views``: how many views the
    keypoints come from, so how many times one place may be described: the ratio test looks
    that far down the nearest neighbours for the best match at another place."""

    def __init__(self, features: LocalFeatures, *, same_place_px: float = 0.0, views: int = 2) -> None:
        self.features = features
        self.same_place_px = same_place_px
        self.views = max(1, views)
        self._index = faiss.IndexBinaryFlat(features.descriptors.shape[1] * 8)
        if len(features):
            self._index.add(np.ascontiguousarray(features.descriptors, np.uint8))

    def match(self, candidate: LocalFeatures) -> tuple[np.ndarray, np.ndarray]:
        """(candidate rows, query rows) of the one-to-one matches passing the ratio test."""
        if len(candidate) == 0 or len(self.features) < 2:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        several = self.same_place_px > 0 and self.views > 1
        k = min(self.views + 1, len(self.features)) if several else 2
        with one_faiss_thread():
            dist, nearest = self._index.search(np.ascontiguousarray(candidate.descriptors, np.uint8), k)
        second = dist[:, 1]
        if k > 2:
            # the second best is the nearest neighbour at another place than the best; when
            # every neighbour looked at is the same place, the farthest of them (a lower
            # bound of the true second best: the test can only get stricter)
            xy = self.features.xy
            elsewhere = np.linalg.norm(xy[nearest[:, 1:]] - xy[nearest[:, :1]], axis=2) > self.same_place_px
            column = np.where(elsewhere.any(axis=1), elsewhere.argmax(axis=1), k - 2) + 1
            second = dist[np.arange(len(dist)), column]
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
    """Whether ``outline`` (TL, TR, BR, BL) is how a flat rectangle can look in a photo.

    Plain floats rather than numpy: it runs for every candidate verified (dozens for a photo
    of a painting not in the collection), and on four points numpy's per-call overhead made
    it cost more than the homography fit.
    """
    q = np.asarray(outline, np.float64).reshape(4, 2)
    if not np.isfinite(q).all():
        return False
    pts = q.tolist()
    sides = [(pts[(i + 1) % 4][0] - pts[i][0], pts[(i + 1) % 4][1] - pts[i][1]) for i in range(4)]
    for i in range(4):  # TL→TR→BR→BL turns clockwise on screen: convex, not mirrored
        (ax, ay), (bx, by) = sides[i], sides[(i + 1) % 4]
        if ax * by - ay * bx <= 0:
            return False
    area = 0.5 * abs(sum(pts[i][0] * pts[(i + 1) % 4][1] - pts[i][1] * pts[(i + 1) % 4][0] for i in range(4)))
    photo_area = float(photo_size[0] * photo_size[1])
    if not (_MIN_AREA * photo_area <= area <= _MAX_AREA * photo_area):
        return False
    lengths = [math.hypot(dx, dy) for dx, dy in sides]
    for i in range(2):  # opposite sides: top and bottom, right and left
        a, b = lengths[i], lengths[i + 2]
        if min(a, b) / max(a, b, 1e-9) < _MIN_SIDE_RATIO:
            return False
    low, high = _ANGLE_RANGE
    for i in range(4):  # the corner where side i - 1 meets side i
        (ax, ay), (px, py) = sides[i], sides[i - 1]
        cos = -(ax * px + ay * py) / max(lengths[i] * lengths[i - 1], 1e-9)
        if not low <= math.degrees(math.acos(min(1.0, max(-1.0, cos)))) <= high:
            return False
    return True


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
