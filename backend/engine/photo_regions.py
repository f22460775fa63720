"""Where the artworks are in a photo: recognised ones first, the locator for the rest.

Recognition needs no locator: the homography of a verified match *is* the artwork's
outline, and it is found in a few milliseconds from features the photo needed anyway.
The locator (:mod:`.artwork`, tens of milliseconds) runs only when it can add something:
nothing was recognised (the artwork may not be in the collection, or the visual words
missed it and the global embedding of a rectified crop must try), or many of the photo's
keypoints are left unexplained by what was recognised (another artwork on the wall).

Outlines are kept in the pixels of the decoded photo (what the engine works on);
:class:`PhotoFrame` maps them to the uploaded photo's own pixels for the answer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from dataset_tools.images import DecodedImage

from .artwork import ArtworkRegion, locate_artworks, rectify
from .artwork.geometry import full_frame
from .recognition import Recogniser, Recognition, extract_tilted_features, interleave
from .recognition.verification import points_inside

__all__ = ["PhotoFrame", "PhotoRegion", "find_regions", "look_wider", "recognise_more"]

UNEXPLAINED_SHARE = 0.35
"""Share of the photo's keypoints left outside every recognised artwork above which the
locator looks for more artworks (a plain wall and a frame leave fewer)."""
MAX_LOCATED = 4
"""Artworks the locator adds beside recognised ones, at most."""
_SAME_ARTWORK = 0.3
"""A located quad sharing this much of its area with a recognised outline is that artwork."""


@dataclass(frozen=True)
class PhotoFrame:
    """The photo's coordinate frames: the decoded image the engine sees, and the upload as
    its viewer sees it (upright, full resolution)."""

    decoded_size: tuple[int, int]
    upright_size: tuple[int, int]

    @staticmethod
    def of(decoded: DecodedImage) -> PhotoFrame:
        w, h = decoded.original_size
        dw, dh = decoded.image.size
        # EXIF orientation may have turned the image by 90 degrees after the size was read
        upright = (h, w) if (dw > dh) != (w > h) else (w, h)
        return PhotoFrame(decoded_size=(dw, dh), upright_size=upright)

    def to_upright(self, points: np.ndarray) -> np.ndarray:
        """Decoded-image pixels → the uploaded photo's pixels (pixel centres at integers)."""
        return _rescale(points, self.decoded_size, self.upright_size)


def _rescale(points: np.ndarray, src: tuple[int, int], dst: tuple[int, int]) -> np.ndarray:
    scale = np.asarray([dst[0] / src[0], dst[1] / src[1]], np.float32)
    out: np.ndarray = (np.asarray(points, np.float32) + 0.5) * scale - 0.5
    return out


@dataclass(eq=False)
class PhotoRegion:
    """One artwork in the photo: its outline (TL, TR, BR, BL, decoded-photo pixels), how it
    was found (``"recognition"``, ``"locator"``, or ``"photo"`` for the whole photo when no
    artwork was found), and what recognised it, if anything."""

    outline: np.ndarray
    found_by: str
    recognition: Recognition | None = None
    confidence: float = 0.0
    #: a further located quad kept only if it is recognised (see :func:`find_regions`)
    tentative: bool = False

    def recognise(self, hit: Recognition, feature_size: tuple[int, int], decoded_size: tuple[int, int]) -> None:
        """This region is ``hit``: its outline becomes the verified one."""
        self.recognition = hit
        self.outline = _rescale(hit.outline, feature_size, decoded_size)
        self.found_by = "recognition"
        self.confidence = hit.evidence.score

    def area(self) -> float:
        return float(abs(cv2.contourArea(self.outline.astype(np.float32))))

    def crop(self, image: Image.Image) -> Image.Image:
        """The region rectified (the whole image for the whole-photo region)."""
        if self.found_by == "photo":
            return image
        return rectify(image, ArtworkRegion(self.outline, self.confidence, True))

    def keypoints(self, recogniser: Recogniser, decoded_size: tuple[int, int]) -> np.ndarray | None:
        """Which of the photo's keypoints lie in this region (None: all of them)."""
        if self.found_by == "photo":
            return None
        outline = _rescale(self.outline, decoded_size, recogniser.query.size)
        return points_inside(recogniser.query.xy, outline, grow=0.03)


def find_regions(
    image: Image.Image,
    recognised: list[Recognition],
    recogniser: Recogniser | None,
    *,
    locate: bool,
) -> tuple[list[PhotoRegion], bool]:
    """The artworks in ``image``: (regions, whether the locator ran).

    The ``recognised`` artworks (by ``recogniser``) come first; then, when ``locate`` and it
    is worth it (see the module docstring), every located artwork that is not one of those;
    when there is none at all, one region of the whole photo.
    """
    regions: list[PhotoRegion] = []
    for hit in recognised:
        region = PhotoRegion(outline=hit.outline, found_by="recognition")
        region.recognise(hit, recogniser.query.size if recogniser else image.size, image.size)
        regions.append(region)
    worth_locating = not regions or (
        recogniser is not None and recogniser.unexplained() > UNEXPLAINED_SHARE * len(recogniser.query)
    )
    located = False
    if locate and worth_locating:
        located = True
        # With nothing recognised, the best quad is a region; the others are only tentative:
        # several quads inside one picture (a grid of rectangles) would otherwise pass for
        # several artworks, so one of them counts only once it is recognised (a wall whose
        # visual words found none of its paintings). Beside recognised artworks, every other
        # quad the locator finds is a further artwork on the wall.
        nothing_yet = not regions
        for found in locate_artworks(image, limit=MAX_LOCATED):
            if all(_shared(found.corners, r.outline) < _SAME_ARTWORK for r in regions):
                tentative = nothing_yet and bool(regions)
                if tentative and recogniser is None:
                    break  # nothing could confirm it
                regions.append(
                    PhotoRegion(
                        outline=found.corners, found_by="locator", confidence=found.confidence, tentative=tentative
                    )
                )
    if not regions:
        regions.append(PhotoRegion(outline=full_frame(*image.size), found_by="photo"))
    return regions, located


def _shared(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection of two quads as a share of the smaller (0 when either is degenerate)."""
    qa, qb = np.asarray(a, np.float32), np.asarray(b, np.float32)
    try:
        inter, _ = cv2.intersectConvexConvex(qa, qb)
    except cv2.error:
        return 0.0
    smaller = min(abs(cv2.contourArea(qa)), abs(cv2.contourArea(qb)))
    return float(inter) / smaller if smaller > 0 else 0.0


def recognise_more(
    regions: list[PhotoRegion], recogniser: Recogniser, image_size: tuple[int, int], allowed: np.ndarray | None
) -> None:
    """After the global embedding recognised a located region, look at the rest of the photo again.

    When the visual words of the whole photo shortlisted none of its artworks (a wall of
    several, each holding a share of the keypoints), the first look recognised nothing and the
    locator kept only its best quad. Once that one is recognised and its keypoints set aside,
    the words of the keypoints left vote for the other artworks far more clearly.
    """
    for hit in recogniser.recognise_all(allowed=allowed):
        region = PhotoRegion(outline=hit.outline, found_by="recognition")
        region.recognise(hit, recogniser.query.size, image_size)
        regions.append(region)


def look_wider(
    regions: list[PhotoRegion],
    recogniser: Recogniser,
    image: Image.Image,
    candidates: dict[int, list[list[int]]],
    allowed: np.ndarray | None,
) -> None:
    """When nothing in the photo was recognised: add the keypoints of its stretched view
    (:func:`.recognition.extract_tilted_features`, a painting seen from the side) and verify
    each region's candidates again, the visual words' and the global embedding's
    (``candidates``, per region id). Only then: a snap the plain view recognises keeps its
    answer and its time, and the second extraction is paid by the photos that need it.
    """
    t0 = time.perf_counter()
    recogniser.widen(extract_tilted_features(image))
    recogniser.features_ms += (time.perf_counter() - t0) * 1000
    for region in regions:
        within = region.keypoints(recogniser, image.size)
        by_words = recogniser.shortlist(within=within, allowed=allowed)
        hit = recogniser.identify(interleave(by_words, *candidates.get(id(region), [])), within=within)
        if hit is not None:
            region.recognise(hit, recogniser.query.size, image.size)
    if any(r.recognition for r in regions):
        recognise_more(regions, recogniser, image.size, allowed)
