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
    "LocalFeatures",
    "extract_catalogue_features",
    "extract_query_features",
    "feature_size",
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


def _orb(grey: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    # One detector per call: ORB objects are not safe to share between the threads of a
    # gunicorn gthread worker, and creating one costs microseconds.
    # scaleFactor 1.2 over 6 levels spans 2.5x in scale on each side; a 15 px patch keeps
    # keypoints near a painting's border and lets an occluder cover fewer of them.
    orb = cv2.ORB.create(nfeatures=n, scaleFactor=1.2, nlevels=6, edgeThreshold=15, patchSize=15, fastThreshold=10)
    keypoints, descriptors = orb.detectAndCompute(grey, None)
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


def extract_query_features(img: Image.Image, *, n: int = QUERY_FEATURES) -> LocalFeatures:
    """Features of a photo, shrunk to at most :data:`QUERY_MAX_SIDE` on its longer side."""
    size = img.size if max(img.size) <= QUERY_MAX_SIDE else feature_size(img.width, img.height, QUERY_MAX_SIDE)
    xy, des = _orb(_grey(img, size), n)
    return LocalFeatures(xy, des, size)
