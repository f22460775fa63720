"""The locator's public API: find the artwork, warp it upright, or both."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from .candidates import candidate_quads
from .frame import inside_frame
from .geometry import full_frame
from .refinement import refine_sides
from .scoring import MAX_ANGLE_DEVIATION, MIN_AREA, MIN_SIDE_RATIO, QuadShape, quad_evidence, quad_shape
from .view import MIN_SIDE, View, work_image

__all__ = [
    "MAIN_SUBJECT",
    "ArtworkRegion",
    "LocatorScene",
    "Looking",
    "crop_artwork",
    "locate_artwork",
    "locate_artworks",
    "rectify",
]

FOUND_SCORE = 0.6
"""Calibrated: simulated snaps' paintings score >= 0.64, tight crops' best quads mostly < 0.6."""


@dataclass(frozen=True)
class Looking:
    """What the locator accepts as an artwork: the smallest share of the photo, the score a
    quad needs, and how far from a rectangle seen head-on its shape may be.

    The defaults (:data:`MAIN_SUBJECT`) are for what a visitor photographs: the locator's
    answer is used as it is. A caller that verifies every region with local features
    before answering may look for smaller, less certain or more slanted ones.
    """

    min_area: float = MIN_AREA
    found_score: float = FOUND_SCORE
    max_angle_deviation: float = MAX_ANGLE_DEVIATION
    min_side_ratio: float = MIN_SIDE_RATIO


MAIN_SUBJECT = Looking()


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
    """Locate the (unframed) painting in ``img``. See the package docstring for the method."""
    found = locate_artworks(img, work_side=work_side, limit=1)
    if not found:
        return ArtworkRegion(corners=full_frame(*img.size), confidence=0.0, found=False)
    return found[0]


_MAX_SHARED_AREA = 0.2
"""Two quads sharing more than this share of the smaller one's area are one artwork (a
frame and the painting inside it), not two."""


class LocatorScene:
    """The locator's work on one photo that does not depend on what it looks for: the working
    image with its edge and wall maps, the candidate quads, each quad's shape and how much it
    looks like a hung artwork, and the refined outline of each quad taken.

    A caller that looks at one photo with several :class:`Looking` limits (the search service
    looks for the visitor's main subject, and for a painting seen from the side when nothing
    was recognised) passes the same scene to :func:`locate_artworks` and pays for that work
    once: the limits only gate which quads count, and the answers are those of fresh calls.
    Candidate quads depend on the smallest area looked for, so looks with another
    ``min_area`` share only the working image and its maps. One scene belongs to one
    request: its caches are not locked.
    """

    def __init__(self, img: Image.Image, *, work_side: int = 384) -> None:
        self.image = img
        self.work_side = work_side
        self._view: View | None = None
        self._quads: dict[float, list[np.ndarray]] = {}
        self._shapes: dict[tuple[float, int], QuadShape] = {}
        self._evidence: dict[tuple[float, int], float] = {}
        self._refined: dict[tuple[float, int], np.ndarray] = {}

    def fits(self, img: Image.Image, work_side: int) -> bool:
        return img is self.image and work_side == self.work_side

    @property
    def view(self) -> View:
        if self._view is None:
            self._view = View.of(work_image(self.image, self.work_side))
        return self._view

    def quads(self, min_area: float) -> list[np.ndarray]:
        if min_area not in self._quads:
            self._quads[min_area] = candidate_quads(self.view, min_area=min_area)
        return self._quads[min_area]

    def score(self, looking: Looking, i: int) -> float:
        """How much candidate ``i`` looks like a hung artwork under ``looking``'s limits, about
        0..1 (0: its shape is outside them)."""
        key = (looking.min_area, i)
        quad = self.quads(looking.min_area)[i]
        if key not in self._shapes:
            self._shapes[key] = quad_shape(self.view, quad)
        shape = self._shapes[key]
        if not shape.passes(
            min_area=looking.min_area,
            max_angle_deviation=looking.max_angle_deviation,
            min_side_ratio=looking.min_side_ratio,
        ):
            return 0.0
        if key not in self._evidence:
            self._evidence[key] = quad_evidence(self.view, quad, shape)
        return self._evidence[key]

    def refined(self, min_area: float, i: int) -> np.ndarray:
        """Candidate ``i``'s sides refined onto the edges (and onto the painting inside its
        frame), in working-image pixels."""
        key = (min_area, i)
        if key not in self._refined:
            view = self.view
            quad = refine_sides(view, self.quads(min_area)[i], reach=3.0)
            inner = inside_frame(view, quad)
            if inner is not None:
                quad = refine_sides(view, inner, reach=2.0)
            self._refined[key] = quad
        return self._refined[key]


def locate_artworks(
    img: Image.Image,
    *,
    work_side: int = 384,
    limit: int = 4,
    looking: Looking = MAIN_SUBJECT,
    scene: LocatorScene | None = None,
) -> list[ArtworkRegion]:
    """Every artwork found in ``img``, best first (at most ``limit``; empty when none).

    The candidate quads that score as artworks (``found_score``) are taken best first,
    leaving out any that overlaps one already taken: a wall with several paintings gives
    one region each, a framed painting one region (its frame's quad overlaps it). What
    counts as an artwork is ``looking``'s (see :class:`Looking`). ``scene``: the locator's
    work on ``img`` from an earlier call (see :class:`LocatorScene`); ignored if it is of
    another image.
    """
    width, height = img.size
    if min(width, height) < MIN_SIDE:
        return []
    if scene is None or not scene.fits(img, work_side):
        scene = LocatorScene(img, work_side=work_side)
    work_w, work_h = scene.view.size
    quads = scene.quads(looking.min_area)
    scores = [scene.score(looking, i) for i in range(len(quads))]
    taken: list[tuple[float, int]] = []
    for i in sorted(range(len(quads)), key=lambda i: -scores[i]):  # stable: the first of equals wins
        score, quad = scores[i], quads[i]
        if score < looking.found_score or len(taken) == limit:
            break
        if all(_shared_area(quad, quads[j]) <= _MAX_SHARED_AREA for _, j in taken):
            taken.append((score, i))
    # back to input pixels (pixel centres at integers in both)
    scale = np.asarray([width / work_w, height / work_h], dtype=np.float32)
    regions = []
    for score, i in taken:
        corners = (scene.refined(looking.min_area, i) + 0.5) * scale - 0.5
        corners[:, 0] = np.clip(corners[:, 0], -0.5, width - 0.5)
        corners[:, 1] = np.clip(corners[:, 1], -0.5, height - 0.5)
        regions.append(ArtworkRegion(corners=corners.astype(np.float32), confidence=float(min(1.0, score)), found=True))
    return regions


def _shared_area(a: np.ndarray, b: np.ndarray) -> float:
    """Area of the intersection of two convex quads, as a share of the smaller one."""
    inter, _ = cv2.intersectConvexConvex(a.astype(np.float32), b.astype(np.float32))
    smaller = min(abs(cv2.contourArea(a.astype(np.float32))), abs(cv2.contourArea(b.astype(np.float32))))
    return float(inter) / max(smaller, 1e-6)


def rectify(img: Image.Image, region: ArtworkRegion, *, out_size: int | tuple[int, int] | None = None) -> Image.Image:
    """Warp the region's quadrilateral to an upright rectangle.

    The rectangle keeps the quad's aspect ratio (mean lengths of opposite sides). ``out_size``:
    None keeps about the quad's own resolution; an int sets the longer side; a (w, h) tuple
    is taken literally (aspect not kept: the caller asked for exactly that size).
    """
    img = img.convert("RGB") if img.mode != "RGB" else img
    q: np.ndarray = np.asarray(region.corners, np.float32).reshape(4, 2)
    top, bottom = np.linalg.norm(q[1] - q[0]), np.linalg.norm(q[2] - q[3])
    left, right = np.linalg.norm(q[3] - q[0]), np.linalg.norm(q[2] - q[1])
    natural_w, natural_h = np.maximum(1.0, (top + bottom) / 2), np.maximum(1.0, (left + right) / 2)
    if out_size is None:
        out_w, out_h = round(natural_w), round(natural_h)
    elif isinstance(out_size, int):
        k = out_size / np.maximum(natural_w, natural_h)
        out_w, out_h = max(1, round(natural_w * k)), max(1, round(natural_h * k))
    else:
        out_w, out_h = int(out_size[0]), int(out_size[1])

    if not region.found:
        return img if (out_w, out_h) == img.size else img.resize((out_w, out_h), Image.Resampling.BICUBIC)

    # Warping samples the source sparsely; shrink it first when the output is much smaller,
    # otherwise a 12 MP photo warped to 224 px aliases badly.
    factor = int(np.minimum(natural_w / out_w, natural_h / out_h) // 2)
    if factor >= 2:
        img = img.reduce(factor)
        q = (q + 0.5) / factor - 0.5
    dst = np.asarray(
        [[-0.5, -0.5], [out_w - 0.5, -0.5], [out_w - 0.5, out_h - 0.5], [-0.5, out_h - 0.5]], dtype=np.float32
    )
    h = cv2.getPerspectiveTransform(q, dst)
    out = cv2.warpPerspective(
        np.asarray(img), h, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return Image.fromarray(np.asarray(out))


def crop_artwork(img: Image.Image, *, work_side: int = 384) -> tuple[Image.Image, ArtworkRegion]:
    """Locate and rectify; the image itself when nothing plausible is found."""
    region = locate_artwork(img, work_side=work_side)
    if not region.found:
        return img, region
    return rectify(img, region), region
