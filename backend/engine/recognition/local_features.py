"""Local features: ORB keypoints and binary descriptors, for catalogue images and photos.

Why ORB: it is in OpenCV (no model to download), its 32-byte binary descriptors are small
enough to keep for every catalogue item (:mod:`.feature_store`) and are compared by Hamming
distance, which faiss does in C++ far faster than float descriptors; it tolerates the
rotation, scale and lighting changes of a phone photo. SIFT verified one more snap in 120
in the issue's experiment at more than ten times the query cost.

Both sides are extracted on a grey image of a known size, so the feature pyramids of a
catalogue image and of the painting inside a photo overlap:

* catalogue images are resized to :data:`CATALOGUE_SIDE` on their longer side (small scans
  are upscaled: ORB's FAST corners need a few pixels around them, and a 224 px thumbnail
  seen at 2x gives the same pixels a photo of the painting does);
* photos are shrunk to at most :data:`QUERY_MAX_SIDE` (a draft-decoded 12 MP photo is about
  500 px already) and keep more keypoints, because the painting is only part of the photo
  and a photo may show several.

Keypoint coordinates are pixel centres of that feature image; :class:`LocalFeatures`
records its size so a homography can map the artwork's corners into the photo.

ORB is not affine-invariant: a painting seen from a visitor standing well to its side is
squeezed along the wall, and its patches no longer look like the catalogue's. A second view
of the photo, stretched along its width by :data:`TILT` (the first step of ASIFT's simulated
tilts), undoes most of that squeeze; its keypoints are mapped back into the photo's feature
pixels, so one homography still holds for both views' matches. It costs a second
extraction, so recognition asks for it only when the plain view recognised nothing
(:func:`extract_tilted_features`).

A wall of several artworks: the photo's keypoint budget goes to its strongest corners, and
a finely textured painting takes most of them, leaving a smaller, plainer or blurred one
beside it a few dozen: too few for its visual words to rank it, or to verify it. Once the
textured one is recognised, the rest of the photo is looked at again
(:func:`extract_features_outside`): a full budget of keypoints for what is left, from a
sharper decode of the upload (:data:`CLOSER_MAX_SIDE`), whose pixels a small artwork in a
high-resolution photo has plenty of even when the first, draft-decoded image does not.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from dataset_tools.images import trim_letterbox

__all__ = [
    "CATALOGUE_FEATURES",
    "CATALOGUE_SIDE",
    "DESCRIPTOR_BYTES",
    "QUERY_FEATURES",
    "QUERY_MAX_SIDE",
    "CLOSER_MAX_SIDE",
    "TILT",
    "LocalFeatures",
    "extract_catalogue_features",
    "extract_features_outside",
    "extract_query_features",
    "extract_tilted_features",
    "extract_view_features",
    "feature_size",
    "query_size",
]

DESCRIPTOR_BYTES = 32
"""An ORB descriptor: 256 binary tests."""
CATALOGUE_SIDE = 256
"""px, longer side of a catalogue image when its features are extracted."""
CATALOGUE_FEATURES = 350
"""Keypoints kept per catalogue item: about 13 KB stored (see :mod:`.feature_store`)."""
QUERY_MAX_SIDE = 640
"""px, a photo's longer side is at most this when its features are extracted."""
QUERY_FEATURES = 1000
"""Keypoints kept per photo: the painting is part of it, and there may be several."""
TILT = 1.6
"""Stretch of the photo's second view along its width: it undoes the squeeze of a painting
seen about 50 degrees off-axis (1 / cos 51°), and halfway to it from 30 to 70 degrees."""
TILTED_FEATURES = 600
"""Keypoints kept from the stretched view (fewer: it adds to the plain view's)."""
VIEW_FEATURES = 600
"""Keypoints kept from a rectified view of a painting seen from the side (they add to the
photo's own)."""
VIEW_MAX_SIDE = 512
"""px, longer side at most of a rectified view when its features are extracted."""
CLOSER_MAX_SIDE = 2 * QUERY_MAX_SIDE
"""px, longer side at most of the sharper image the rest of a wall is looked at again in:
twice the first look's, so an artwork a sixth of the photo wide spans about 200 px, more
than the catalogue image's coarsest pyramid level."""


@dataclass(frozen=True)
class LocalFeatures:
    """Keypoints of one image: ``xy`` (n, 2) float32 pixel centres, ``descriptors`` (n, 32)
    uint8, in an image of ``size`` (width, height) pixels; strongest keypoints first."""

    xy: np.ndarray
    descriptors: np.ndarray
    size: tuple[int, int]

    def __len__(self) -> int:
        return len(self.descriptors)

    def subset(self, keep: np.ndarray) -> LocalFeatures:
        """The keypoints selected by a boolean mask or index array (same image size)."""
        return LocalFeatures(self.xy[keep], self.descriptors[keep], self.size)

    def extended(self, more: LocalFeatures) -> LocalFeatures:
        """These keypoints, then ``more`` (of the same image): existing rows keep their numbers."""
        if more.size != self.size:
            raise ValueError(f"features of a {more.size} image cannot extend those of a {self.size} image")
        return LocalFeatures(
            np.concatenate([self.xy, more.xy]).astype(np.float32),
            np.ascontiguousarray(np.concatenate([self.descriptors, more.descriptors])),
            self.size,
        )

    @staticmethod
    def empty(size: tuple[int, int]) -> LocalFeatures:
        return LocalFeatures(np.zeros((0, 2), np.float32), np.zeros((0, DESCRIPTOR_BYTES), np.uint8), size)


def _grey(img: Image.Image, size: tuple[int, int]) -> np.ndarray:
    grey = img.convert("L") if img.mode != "L" else img
    if grey.size != size:
        # Box filter when shrinking (alias-free), bilinear when enlarging a small scan.
        shrinking = size[0] < grey.width
        grey = grey.resize(size, Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR)
    return np.asarray(grey)


def _orb(grey: np.ndarray, n: int, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    # One detector per call: ORB objects are not safe to share between the threads of a
    # gunicorn gthread worker, and creating one costs microseconds.
    # scaleFactor 1.2 over 6 levels spans 2.5x in scale on each side; a 15 px patch keeps
    # keypoints near a painting's border and lets an occluder cover fewer of them.
    orb = cv2.ORB.create(nfeatures=n, scaleFactor=1.2, nlevels=6, edgeThreshold=15, patchSize=15, fastThreshold=10)
    keypoints, descriptors = orb.detectAndCompute(grey, mask)
    if len(keypoints) == 0:  # (OpenCV's descriptors are None then)
        return np.zeros((0, 2), np.float32), np.zeros((0, DESCRIPTOR_BYTES), np.uint8)
    # strongest first, so a caller wanting the n most distinctive keypoints takes the first n
    order = np.argsort([-k.response for k in keypoints], kind="stable")
    xy = np.asarray([k.pt for k in keypoints], np.float32).reshape(-1, 2)[order]
    return xy, np.ascontiguousarray(descriptors[order], np.uint8)


def feature_size(width: int, height: int, longer: int) -> tuple[int, int]:
    """(w, h) with the longer side ``longer`` and the aspect kept (at least 1 px each)."""
    k = longer / max(width, height)
    return max(1, round(width * k)), max(1, round(height * k))


def extract_catalogue_features(img: Image.Image, *, n: int = CATALOGUE_FEATURES) -> LocalFeatures:
    """Features of a catalogue image, at :data:`CATALOGUE_SIDE` on its longer side.

    Black letterbox bars (scans padded to a square, as in many web collections) are cut off
    first: the artwork's corners are then the painting's, which is what the photo shows.
    """
    box = trim_letterbox(img)
    if box != (0, 0, img.width, img.height):
        img = img.crop(box)
    size = feature_size(img.width, img.height, CATALOGUE_SIDE)
    xy, des = _orb(_grey(img, size), n)
    return LocalFeatures(xy, des, size)


def query_size(img: Image.Image) -> tuple[int, int]:
    """The size of a photo's feature image: at most :data:`QUERY_MAX_SIDE` on its longer side."""
    return query_size_of(img.size)


def query_size_of(size: tuple[int, int]) -> tuple[int, int]:
    """:func:`query_size` of a photo of ``size``."""
    return size if max(size) <= QUERY_MAX_SIDE else feature_size(size[0], size[1], QUERY_MAX_SIDE)


def extract_query_features(img: Image.Image, *, n: int = QUERY_FEATURES) -> LocalFeatures:
    """Features of a photo, shrunk to at most :data:`QUERY_MAX_SIDE` on its longer side."""
    size = query_size(img)
    xy, des = _orb(_grey(img, size), n)
    return LocalFeatures(xy, des, size)


def extract_features_outside(
    img: Image.Image,
    size: tuple[int, int],
    outlines: list[np.ndarray],
    *,
    grow: float = 0.0,
    n: int = QUERY_FEATURES,
) -> LocalFeatures:
    """Features of a photo outside ``outlines``, with their positions in a feature image of
    ``size`` (where the outlines are given, TL, TR, BR, BL, each grown by ``grow``, a share
    of its size, around its centre).

    ``img`` is the photo at any resolution (a sharper decode of the one ``size`` came from);
    keypoints are found at up to :data:`CLOSER_MAX_SIDE` on its longer side, so the whole
    budget of ``n`` goes to what the outlines leave, seen with more pixels than ``size`` has.
    """
    work = img.size if max(img.size) <= CLOSER_MAX_SIDE else feature_size(img.width, img.height, CLOSER_MAX_SIDE)
    grey = _grey(img, work)
    scale = np.asarray([work[0] / size[0], work[1] / size[1]], np.float64)
    mask = np.full(grey.shape, 255, np.uint8)
    for outline in outlines:
        q = np.asarray(outline, np.float64).reshape(4, 2)
        q = q.mean(0) + (q - q.mean(0)) * (1.0 + grow)
        cv2.fillConvexPoly(mask, np.round((q + 0.5) * scale - 0.5).astype(np.int32), 0)
    xy, des = _orb(grey, n, mask)
    xy = ((xy + 0.5) / scale - 0.5).astype(np.float32)
    return LocalFeatures(xy, des, size)


def extract_tilted_features(img: Image.Image, *, n: int = TILTED_FEATURES, tilt: float = TILT) -> LocalFeatures:
    """Features of the photo's view stretched ``tilt`` times along its width (see the module
    docstring), with their positions in the same feature image as :func:`extract_query_features`."""
    size = query_size(img)
    grey = _grey(img, size)
    wide = cv2.resize(grey, (round(size[0] * tilt), size[1]), interpolation=cv2.INTER_LINEAR)
    xy, des = _orb(wide, n)
    # pixel centres: x' + 0.5 = (x + 0.5) * (wide width / width)
    xy[:, 0] = (xy[:, 0] + 0.5) * (size[0] / wide.shape[1]) - 0.5
    return LocalFeatures(xy, des, size)


def extract_view_features(
    view: Image.Image, to_photo: np.ndarray, photo_size: tuple[int, int], *, n: int = VIEW_FEATURES
) -> LocalFeatures:
    """Features of a rectified view of part of a photo, with their positions in the photo's
    feature image (as :func:`extract_query_features`'s).

    ``to_photo`` (3, 3) maps the view's pixels to the decoded photo's (``photo_size``), pixel
    centres at integers in both. A painting seen steeply from the side is squeezed and
    slanted beyond what ORB's keypoints survive; undone, it matches its catalogue scan
    as a frontal snap does, and the keypoints' places in the photo keep the geometry that
    verification fits.
    """
    size = query_size_of(photo_size)
    work = view.size if max(view.size) <= VIEW_MAX_SIDE else feature_size(view.width, view.height, VIEW_MAX_SIDE)
    xy, des = _orb(_grey(view, work), n)
    if len(xy) == 0:
        return LocalFeatures.empty(size)
    xy = (xy + 0.5) * np.asarray([view.width / work[0], view.height / work[1]], np.float32) - 0.5  # to view px
    in_photo = cv2.perspectiveTransform(xy.reshape(-1, 1, 2).astype(np.float64), to_photo).reshape(-1, 2)
    scale = np.asarray([size[0] / photo_size[0], size[1] / photo_size[1]])
    pts = ((in_photo + 0.5) * scale - 0.5).astype(np.float32)
    inside = (pts[:, 0] > -0.5) & (pts[:, 0] < size[0] - 0.5) & (pts[:, 1] > -0.5) & (pts[:, 1] < size[1] - 0.5)
    return LocalFeatures(pts[inside], np.ascontiguousarray(des[inside]), size)
