"""The photo at work size, in the forms every stage of the locator needs (computed once)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from .colour import OPPONENT, WEIGHT, colour_canny
from .geometry import bilinear
from .wall import wall_mask

__all__ = ["MIN_SIDE", "View", "work_image"]

MIN_SIDE = 32
"""px; a thumbnail this small holds no wall-and-painting scene worth searching."""


@dataclass(frozen=True)
class View:
    """The work-size photo: colour, its gradients, its edges and where it is wall."""

    col: np.ndarray  # (h, w, 3) float32 opponent colour, lightly blurred
    gx: np.ndarray  # (h, w, 3) float32 d/dx of the 3 channels (per pixel units)
    gy: np.ndarray  # (h, w, 3) float32 d/dy
    edges: np.ndarray  # (h, w) uint8 colour-Canny edges
    wall: np.ndarray  # (h/2, w/2) uint8 255 where the pixel looks like the wall (half resolution)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in work pixels."""
        return self.col.shape[1], self.col.shape[0]

    @staticmethod
    def of(rgb: np.ndarray) -> View:
        """The view of an RGB uint8 work image (see :func:`work_image`)."""
        blurred = cv2.GaussianBlur(rgb, (0, 0), 1.0)
        col = np.asarray(cv2.transform(blurred.astype(np.float32), OPPONENT))
        gx = np.asarray(cv2.Sobel(col, cv2.CV_32F, 1, 0, ksize=3, scale=0.125))
        gy = np.asarray(cv2.Sobel(col, cv2.CV_32F, 0, 1, ksize=3, scale=0.125))
        edges = colour_canny(gx, gy)
        return View(col=col, gx=gx, gy=gy, edges=edges, wall=wall_mask(np.asarray(cv2.pyrDown(col))))

    def edge_strength(self, points: np.ndarray, normals: np.ndarray) -> np.ndarray:
        """(N,) weighted colour gradient across ``normals`` (N, 2) at float ``points`` (N, 2).

        Only the component across a side counts: texture running along it is not its edge.
        """
        across = bilinear(self.gx, points) * normals[:, :1] + bilinear(self.gy, points) * normals[:, 1:]
        strength: np.ndarray = np.sqrt((across * across * WEIGHT).sum(1))
        return strength


def work_image(img: Image.Image, work_side: int) -> np.ndarray:
    """``img`` as RGB uint8 with its longer side <= work_side.

    An integer box ``reduce`` does most of the shrinking (cheap and alias-free); the last
    step, less than 2x, is a bilinear resize (the view blurs anyway).
    """
    img = img.convert("RGB") if img.mode != "RGB" else img
    factor = min(max(img.size) // work_side, min(img.size) // MIN_SIDE)
    if factor >= 2:
        img = img.reduce(factor)
    rgb = np.asarray(img)
    if max(img.size) > work_side:
        k = work_side / max(img.size)
        size = (max(8, round(img.width * k)), max(8, round(img.height * k)))
        rgb = np.asarray(cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR))
    return rgb
