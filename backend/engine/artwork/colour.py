"""The colour space the locator measures differences in, and colour edges.

Paintings and walls often differ in hue more than in brightness, so every stage compares
colours in all three channels of an opponent space, lightness weighted down.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["EDGE", "OPPONENT", "WEIGHT", "colour_canny"]

OPPONENT = np.asarray([[1 / 3, 1 / 3, 1 / 3], [0.5, -0.5, 0.0], [0.25, 0.25, -0.5]], dtype=np.float32)
"""RGB -> (lightness, red-green, yellow-blue). A linear stand-in for Lab: 5x cheaper, and the
locator only needs colour *differences*, not perceptual uniformity."""
WEIGHT = np.asarray([0.5, 1.0, 1.0], dtype=np.float32)
"""Lightness counts half in colour distances: light gradients, shadows and glare change it most."""
EDGE = 6.0
"""Colour gradient (opponent units per px) that counts as an edge."""


def colour_canny(gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """Canny edges of any colour channel (their union), uint8 255 on an edge.

    Lightness alone misses edges between equally bright colours (a pale green painting on a
    beige wall). Each channel is weighted as in colour distances.
    """
    k = 16.0  # fixed-point scale for Canny's int16 derivative inputs
    scale = tuple(float(x) * k for x in WEIGHT) + (0.0,)
    dx = cv2.split(cv2.multiply(gx, scale, dtype=cv2.CV_16S))  # type: ignore[call-overload]  # cv2 takes a Scalar here; its stubs list arrays only
    dy = cv2.split(cv2.multiply(gy, scale, dtype=cv2.CV_16S))  # type: ignore[call-overload]  # cv2 takes a Scalar here; its stubs list arrays only
    edges: np.ndarray = np.asarray(cv2.Canny(dx[0], dy[0], 0.5 * EDGE * k, EDGE * k, L2gradient=True))
    for c in (1, 2):
        edges |= cv2.Canny(dx[c], dy[c], 0.5 * EDGE * k, EDGE * k, L2gradient=True)
    return edges
