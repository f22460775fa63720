"""Where the artworks are in a photo: recognised ones first, the locator for the rest.

Recognition needs no locator: the homography of a verified match *is* the artwork's
outline, and it is found in a few milliseconds from features the photo needed anyway.
The locator (:mod:`.artwork`, tens of milliseconds) runs only when it can add something:
nothing was recognised (the artwork may not be in the collection, or the visual words
missed it and the global embedding of a rectified crop must try), or many of the photo's
keypoints are left unexplained by what was recognised (another artwork on the wall).

A wall of several: what the first look recognised may not be all. A finely textured artwork
takes most of the photo's keypoints, and a plainer or smaller one beside it is left too few
to be found by its words or verified, and is often too plain for the locator too. So once
something is recognised and the recognised artworks leave room for more
(:func:`worth_looking_closer`), the rest of the photo is looked at again with keypoints of
its own, from a sharper decode of the upload (:func:`look_closer`); the locator looks there
for smaller artworks than a visitor's main subject (:data:`BESIDE`).

A photo nothing is recognised in gets harder looks: its stretched view, and the rectified
view of a painting seen steeply from the side (:mod:`.photo_views`).

Outlines are kept in the pixels of the decoded photo (what the engine works on);
:class:`PhotoFrame` maps them to the uploaded photo's own pixels for the answer.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from dataset_tools.images import DecodedImage

from .artwork import ArtworkRegion, LocatorScene, Looking, locate_artworks, rectify
from .artwork.geometry import full_frame
from .recognition import Recogniser, Recognition
from .recognition.local_features import extract_features_outside
from .recognition.recogniser import EXPLAINED_GROW, MAX_ARTWORKS
from .recognition.verification import points_inside

__all__ = [
    "PhotoFrame",
    "PhotoRegion",
    "find_regions",
    "look_closer",
    "blank_out",
    "keypoints_inside",
    "parts_of_the_rest",
    "recognise_more",
    "worth_looking_closer",
]

UNEXPLAINED_SHARE = 0.35
"""Share of the photo's keypoints left outside every recognised artwork above which the
locator looks for more artworks (a plain wall and a frame leave fewer)."""
MAX_LOCATED = 4
"""Artworks the locator adds beside recognised ones, at most."""
_SAME_ARTWORK = 0.3
"""A located quad sharing this much of its area with a recognised outline is that artwork."""
BESIDE = Looking(min_area=0.015, found_score=0.45)
"""What the locator looks for beside recognised artworks: smaller (its default, 8 % of the
photo, is for a visitor's main subject; on a wall of three, each is 3–9 %) and less certain
(score 0.45, not 0.6). Every region it proposes there is verified before it is answered."""
_BLANK_GROW = 0.25
"""A recognised outline grown by this share of its size covers its frame too."""
ROOM_FOR_MORE = 0.2
"""Share of the photo below which one recognised artwork, as it would look from the front
(:meth:`.recognition.Recognition.head_on_area`), leaves room for others beside it: a visitor
photographing one artwork frames it larger, and one seen from the side is only squeezed,
not far away. Two recognised are a wall whatever their size."""


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
        return keypoints_inside(recogniser, self.outline, decoded_size)


def keypoints_inside(recogniser: Recogniser, outline: np.ndarray, decoded_size: tuple[int, int]) -> np.ndarray:
    """Which of the photo's keypoints lie in ``outline`` (decoded-photo pixels), grown a little
    so that keypoints on the artwork's own edge count."""
    return points_inside(recogniser.query.xy, _rescale(outline, decoded_size, recogniser.query.size), grow=0.03)


def find_regions(
    image: Image.Image,
    recognised: list[Recognition],
    recogniser: Recogniser | None,
    *,
    locate: bool,
    scene: LocatorScene | None = None,
) -> tuple[list[PhotoRegion], bool]:
    """The artworks in ``image``: (regions, whether the locator ran).

    The ``recognised`` artworks (by ``recogniser``) come first; then, when ``locate`` and it
    is worth it (see the module docstring), every located artwork that is not one of those;
    when there is none at all, one region of the whole photo. ``scene``: the locator's work
    on ``image``, kept for a later look at the same photo (:func:`.photo_views.look_wider`).
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
        for found in locate_artworks(image, limit=MAX_LOCATED, scene=scene):
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


def worth_looking_closer(regions: list[PhotoRegion], feature_size: tuple[int, int]) -> bool:
    """Whether the recognised artworks may not be all the photo shows (see the module
    docstring): two or more (a wall), or one that seen from the front would cover less than
    :data:`ROOM_FOR_MORE` of it. ``feature_size``: the size of the image the recognitions'
    outlines are in."""
    recognised = [r.recognition for r in regions if r.recognition is not None]
    if not recognised or len(recognised) >= MAX_ARTWORKS:
        return False
    if len(recognised) >= 2:
        return True
    return recognised[0].head_on_area() < ROOM_FOR_MORE * feature_size[0] * feature_size[1]


def look_closer(
    regions: list[PhotoRegion],
    recogniser: Recogniser,
    image_size: tuple[int, int],
    sharper: Callable[[], Image.Image],
    allowed: np.ndarray | None,
    parts: list[np.ndarray] | None = None,
    also: list[int] | None = None,
) -> None:
    """Look at the part of the photo no recognised artwork explains with keypoints of its own,
    from ``sharper()`` (the upload decoded with more pixels than ``image_size``, or the same
    image when it has no more), and recognise what is there: the candidates of their visual
    words, those of the words inside each of ``parts`` (quads in ``image_size`` pixels where
    another artwork may be, :func:`parts_of_the_rest`), and ``also`` (the global embedding's
    for those parts). A located region that a new recognition falls on becomes that
    artwork; any other is a new region.
    """
    t0 = time.perf_counter()
    outlines = [r.outline for r in recogniser.recognised]
    closer = extract_features_outside(sharper(), recogniser.query.size, outlines, grow=EXPLAINED_GROW)
    recogniser.features_ms += (time.perf_counter() - t0) * 1000
    in_features = [_rescale(q, image_size, recogniser.query.size) for q in parts or []]
    for hit in recogniser.look_closer(closer, allowed=allowed, parts=in_features, also=also or []):
        outline = _rescale(hit.outline, recogniser.query.size, image_size)
        same = [r for r in regions if r.recognition is None and _shared(outline, r.outline) >= _SAME_ARTWORK]
        region = max(same, key=lambda r: _shared(outline, r.outline)) if same else None
        if region is None:
            region = PhotoRegion(outline=outline, found_by="recognition")
            regions.append(region)
        region.recognise(hit, recogniser.query.size, image_size)


def blank_out(image: Image.Image, outlines: list[np.ndarray]) -> Image.Image:
    """``image`` with the artworks at ``outlines`` (its pixels; frames too) painted over in
    the colour of its border (mostly wall): what is left of a wall for the global embedding,
    which would otherwise describe the recognised artworks again."""
    rgb = np.array(image.convert("RGB"))
    h, w = rgb.shape[:2]
    ring = max(1, min(h, w) // 40)
    border = np.concatenate(
        [
            rgb[:ring].reshape(-1, 3),
            rgb[-ring:].reshape(-1, 3),
            rgb[:, :ring].reshape(-1, 3),
            rgb[:, -ring:].reshape(-1, 3),
        ]
    )
    fill = tuple(int(v) for v in np.median(border, axis=0))
    for outline in outlines:
        q = np.asarray(outline, np.float64).reshape(4, 2)
        q = q.mean(0) + (q - q.mean(0)) * (1.0 + _BLANK_GROW)
        cv2.fillConvexPoly(rgb, np.round(q).astype(np.int32), fill)
    return Image.fromarray(rgb)


def parts_of_the_rest(
    image: Image.Image, outlines: list[np.ndarray], *, locate: bool = True
) -> tuple[list[np.ndarray], list[Image.Image]]:
    """Where another artwork may be in a photo whose artworks at ``outlines`` are recognised,
    and what the global embedding should describe of each: (quads in ``image`` pixels, views).

    Every artwork the locator finds once those are painted over (:func:`blank_out`; with
    them gone, a plainer artwork is no longer outscored), rectified; when it finds none (or
    the caller turned the locator off), the largest upright boxes of the photo clear of them
    (:data:`MAX_CLEAR_BOXES`: an artwork the locator misses is still the main thing in one
    of them).
    """
    rest = blank_out(image, outlines)
    located = (
        [
            found
            for found in locate_artworks(rest, limit=MAX_LOCATED, looking=BESIDE)
            if all(_shared(found.corners, o) < _SAME_ARTWORK for o in outlines)
        ]
        if locate
        else []
    )
    if located:
        return [f.corners for f in located], [rectify(image, f) for f in located]
    boxes = _clear_boxes(image.size, outlines)
    quads = [np.asarray([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32) - 0.5 for x0, y0, x1, y1 in boxes]
    return quads, [rest.crop(box) for box in boxes]


MAX_CLEAR_BOXES = 2
"""Clear boxes described at most: one on each side of a recognised artwork."""
_MIN_CLEAR = 0.1
"""Share of the photo a clear rectangle needs to be worth describing."""


def _clear_boxes(size: tuple[int, int], outlines: list[np.ndarray]) -> list[tuple[int, int, int, int]]:
    """The largest axis-aligned boxes of the photo that no outline's (framed) bounding box
    enters, largest first, each overlapping those before it by at most a quarter of its area
    and covering at least :data:`_MIN_CLEAR` of the photo. Few outlines: a box's sides are
    among theirs and the photo's, and every choice of them is tried."""
    w, h = size
    taken = []
    for outline in outlines:
        q = np.asarray(outline, np.float64).reshape(4, 2)
        q = q.mean(0) + (q - q.mean(0)) * (1.0 + _BLANK_GROW)
        taken.append((q[:, 0].min(), q[:, 1].min(), q[:, 0].max(), q[:, 1].max()))
    xs = sorted({0.0, float(w), *(min(max(b[i], 0.0), w) for b in taken for i in (0, 2))})
    ys = sorted({0.0, float(h), *(min(max(b[i], 0.0), h) for b in taken for i in (1, 3))})
    clear = []
    for x0, x1 in itertools.combinations(xs, 2):
        for y0, y1 in itertools.combinations(ys, 2):
            area = (x1 - x0) * (y1 - y0)
            if area >= _MIN_CLEAR * w * h and not any(
                x0 < b[2] and b[0] < x1 and y0 < b[3] and b[1] < y1 for b in taken
            ):
                clear.append((area, (x0, y0, x1, y1)))
    chosen: list[tuple[float, float, float, float]] = []
    for area, box in sorted(clear, key=lambda c: -c[0]):
        if len(chosen) == MAX_CLEAR_BOXES:
            break
        if all(_box_overlap(box, other) <= 0.25 * area for other in chosen):
            chosen.append(box)
    return [(round(x0), round(y0), round(x1), round(y1)) for x0, y0, x1, y1 in chosen]


def _box_overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
