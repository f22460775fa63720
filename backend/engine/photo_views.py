"""Harder looks at a photo in which nothing was recognised: a painting seen from the side.

ORB is not affine-invariant: a painting photographed by a visitor standing well to its side
is squeezed along the wall, and neither its visual words nor verification find it among the
photo's plain keypoints. Two further looks, each paid only by the photos that need it:

* the photo's view stretched along its width (:func:`look_wider`,
  :func:`.recognition.extract_tilted_features`), whose keypoints join the photo's and whose
  candidates are verified again;
* then the locator looks for a quad far from square (:data:`SEEN_FROM_THE_SIDE`), and the
  keypoints of its rectified view, placed back in the photo, vote and verify like the
  photo's own (:func:`look_from_the_side`).

Whatever these looks propose is verified like everything else, so they add recall, not
wrong matches.
"""

from __future__ import annotations

import time

import cv2
import numpy as np
from PIL import Image

from .artwork import LocatorScene, Looking, locate_artworks, rectify
from .photo_regions import PhotoRegion, keypoints_inside, recognise_more
from .recognition import Recogniser, extract_tilted_features, extract_view_features, interleave

__all__ = ["MAX_SIDE_VIEWS", "SEEN_FROM_THE_SIDE", "look_from_the_side", "look_wider"]

SEEN_FROM_THE_SIDE = Looking(found_score=0.45, max_angle_deviation=55.0, min_side_ratio=0.25)
"""What the locator looks for when nothing was recognised even in the stretched view: a
painting seen steeply from the side (corners up to 55 degrees off square, the far side down
to a quarter of the near one). Its rectified view only adds keypoints that must verify."""
MAX_SIDE_VIEWS = 2
"""Quads seen from the side whose rectified views are looked at, at most."""


def look_wider(
    regions: list[PhotoRegion],
    recogniser: Recogniser,
    image: Image.Image,
    candidates: dict[int, list[list[int]]],
    allowed: np.ndarray | None,
    *,
    locate: bool = True,
    scene: LocatorScene | None = None,
) -> float:
    """When nothing in the photo was recognised: add the keypoints of its stretched view
    (:func:`.recognition.extract_tilted_features`, a painting seen from the side) and verify
    each region's candidates again, the visual words' and the global embedding's
    (``candidates``, per region id); then, unless the caller turned the locator off, look
    for a painting seen steeply from the side (:func:`look_from_the_side`). Only then: a
    snap the plain view recognises keeps its answer and its time, and these extractions are
    paid by the photos that need them. Returns the milliseconds the locator took.
    ``scene``: the locator's work on ``image`` from :func:`find_regions`, which the side
    look reuses (its candidate quads and their scores; only the limits differ).
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
    locating_ms = 0.0
    if locate and not any(r.recognition for r in regions):
        locating_ms = look_from_the_side(regions, recogniser, image, candidates, allowed, scene=scene)
    if any(r.recognition for r in regions):
        recognise_more(regions, recogniser, image.size, allowed)
    return locating_ms


def look_from_the_side(
    regions: list[PhotoRegion],
    recogniser: Recogniser,
    image: Image.Image,
    candidates: dict[int, list[list[int]]],
    allowed: np.ndarray | None,
    *,
    scene: LocatorScene | None = None,
) -> float:
    """The last look when nothing is recognised: a painting seen steeply from the side.

    The locator's main-subject limits leave out a quad whose far side is less than half its
    near one, so nothing was rectified, and at that slant the photo's keypoints (and the
    stretched view's, a fixed stretch) describe the painting too differently from its scan
    for the visual words to put it forward among thousands. Each quad the locator finds with
    :data:`SEEN_FROM_THE_SIDE`'s limits is rectified: that undoes the slant (the squeeze
    along the wall stays, as :func:`.artwork.rectify` sizes the view by the mean of opposite
    sides). The view's keypoints, placed back in the photo, join the photo's own; the words
    inside the quad and the global embedding's candidates of the photo's main region are
    verified as any other. The main region becomes the recognised artwork (its outline the
    verified one): nothing was recognised, so its locator quad, if any, was not this
    painting's. Returns the milliseconds the locator took.
    """
    if not regions:
        return 0.0
    main = regions[0] if len(regions) == 1 else max(regions, key=lambda r: r.area())
    t0 = time.perf_counter()
    # the main-subject look's candidate quads and their scores, gated by other limits (the
    # same smallest area as the main subject's: other candidates would be generated anew)
    quads = locate_artworks(image, limit=MAX_SIDE_VIEWS, looking=SEEN_FROM_THE_SIDE, scene=scene)
    locating_ms = (time.perf_counter() - t0) * 1000
    for found in quads:
        t0 = time.perf_counter()
        view = rectify(image, found)
        recogniser.widen(extract_view_features(view, _view_to_photo(found.corners, view.size), image.size))
        recogniser.looked_from_the_side = True
        recogniser.features_ms += (time.perf_counter() - t0) * 1000
        within = keypoints_inside(recogniser, found.corners, image.size)
        by_words = recogniser.shortlist(within=within, allowed=allowed)
        hit = recogniser.identify(interleave(by_words, *candidates.get(id(main), [])), within=within)
        if hit is not None:
            main.recognise(hit, recogniser.query.size, image.size)
            break
    return locating_ms


def _view_to_photo(corners: np.ndarray, view_size: tuple[int, int]) -> np.ndarray:
    """The homography from a rectified view's pixels to the photo's (pixel centres at integers)."""
    w, h = view_size
    src = np.asarray([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]], np.float32)
    dst = np.asarray(corners, np.float32).reshape(4, 2)
    return np.asarray(cv2.getPerspectiveTransform(src, dst), np.float64)
