"""What a phone camera does to a picture: light, glare, blur, sensor noise, JPEG, perspective.

Why one module: two simulators make phone photos out of clean scans — visitor snaps of a
framed painting on a wall (:mod:`dataset_tools.camera_snap`, for benchmarks and locator
tests) and training-time augmentation (:mod:`edge_models.augment`).  They draw their
parameters differently (a whole scene versus a mild jitter of one image), but a glare spot or
a JPEG re-encode should be the same effect in both.  Every function here is deterministic
given its arguments (and the ``rng`` it is handed, for noise), so a simulator stays a pure
function of its parameters.

Photos are float32 RGB arrays (H, W, 3) in 0..255 units unless a function says uint8; values
may leave that range until :func:`to_uint8`.  Effects that are smooth over the picture
(lighting, glare) are evaluated on a coarse grid and upsampled, so a 12 MP photo stays cheap.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

__all__ = [
    "JpegPhoto",
    "blur",
    "defocus_blur",
    "glare",
    "jpeg_round_trip",
    "lighting",
    "motion_blur",
    "perspective_warp",
    "sensor_noise",
    "to_uint8",
    "warmth_gains",
]

BLUR_KINDS = ("none", "defocus", "motion")
_COARSE = 8  # smooth fields are computed at 1/8 resolution


def _coarse_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Cell-centre coordinates (x, y) of a 1/8-resolution grid, relative to the photo centre."""
    gh, gw = max(2, h // _COARSE), max(2, w // _COARSE)
    ys, xs = np.mgrid[0:gh, 0:gw].astype(np.float32)
    return (xs + 0.5) * w / gw - w / 2, (ys + 0.5) * h / gh - h / 2


def _upsample(field: np.ndarray, w: int, h: int) -> np.ndarray:
    return cv2.resize(field.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


# --------------------------------------------------------------------------- light


def warmth_gains(warmth: float) -> tuple[float, float, float]:
    """White-balance gains for a colour temperature shift: ``warmth`` > 0 is warm (tungsten
    gallery light: more red, less blue), < 0 cool daylight; 0.1 is a clearly visible cast."""
    return (1.0 + warmth, 1.0, 1.0 - warmth)


def lighting(
    photo: np.ndarray,
    *,
    exposure: float = 1.0,
    wb_gains: Sequence[float] = (1.0, 1.0, 1.0),
    gradient: float = 0.0,
    gradient_angle_deg: float = 0.0,
    vignette: float = 0.0,
) -> np.ndarray:
    """Exposure and white balance, a linear brightness ``gradient`` across the photo (the
    fraction gained from centre to corner, towards ``gradient_angle_deg``) and ``vignette``
    (the fraction lost in the corners), multiplied in as one gain field."""
    h, w = photo.shape[:2]
    gains = np.asarray(wb_gains, np.float32)
    if gradient == 0 and vignette == 0:
        uniform: np.ndarray = photo * (np.float32(exposure) * gains)
        return uniform
    half_diag = math.hypot(w, h) / 2
    xs, ys = _coarse_grid(h, w)
    a = math.radians(gradient_angle_deg)
    grad = 1.0 + gradient * (xs * math.cos(a) + ys * math.sin(a)) / half_diag
    vig = 1.0 - vignette * (xs**2 + ys**2) / half_diag**2
    gain = (exposure * grad * vig)[..., None] * gains
    return cv2.multiply(photo, _upsample(gain, w, h))


def glare(photo: np.ndarray, center: Sequence[float], radius: float, strength: float) -> np.ndarray:
    """A soft specular highlight (varnish or glass under a spotlight), added: a Gaussian
    spot at ``center`` = (x, y) pixels with standard deviation ``radius`` pixels, whose peak
    adds ``strength`` × full white (255)."""
    if strength <= 0:
        return photo
    h, w = photo.shape[:2]
    xs, ys = _coarse_grid(h, w)
    # in float64 after the grid: the spot's centre may be anywhere, far off the grid too
    dx = (xs + w / 2).astype(np.float64) - float(center[0])
    dy = (ys + h / 2).astype(np.float64) - float(center[1])
    spot = 255.0 * strength * np.exp(-(dx**2 + dy**2) / (2 * radius * radius))
    return cv2.add(photo, _upsample(np.repeat(spot[..., None], 3, 2), w, h))


def glass_reflection(
    photo: np.ndarray, quad: np.ndarray, strength: float, angle_deg: float, offset: float = 0.0
) -> np.ndarray:
    """A window reflected in the glass over a painting (``quad``, its 4 corners in pixels): a
    broad pale band and a thin brighter one beside it (a window and its frame), crossing
    the painting at ``angle_deg``, ``offset`` (share of the painting's size) from its centre.
    Only the glass reflects: outside ``quad`` nothing changes. ``strength`` is how far the
    brightest part is pulled towards the sky's pale blue."""
    if strength <= 0:
        return photo
    h, w = photo.shape[:2]
    q = np.asarray(quad, np.float64)
    centre, size = q.mean(0), float(np.linalg.norm(q.max(0) - q.min(0))) or 1.0
    xs, ys = _coarse_grid(h, w)
    a = math.radians(angle_deg)
    d = ((xs + w / 2 - centre[0]) * math.cos(a) + (ys + h / 2 - centre[1]) * math.sin(a)) / size - offset
    band = np.exp(-((d / 0.16) ** 2)) + 0.6 * np.exp(-(((d - 0.26) / 0.04) ** 2))
    alpha = _upsample(np.minimum(strength * band, 0.9).astype(np.float32), w, h)
    mask = np.zeros((h, w), np.float32)
    cv2.fillConvexPoly(mask, np.round(q * 16).astype(np.int32), 1.0, cv2.LINE_AA, shift=4)
    alpha = (alpha * mask)[..., None]
    sky = np.asarray([225.0, 232.0, 240.0], np.float32)
    out: np.ndarray = photo + (sky - photo) * alpha
    return out


# --------------------------------------------------------------------------- optics


def defocus_blur(photo: np.ndarray, sigma: float) -> np.ndarray:
    """Out of focus: a Gaussian of ``sigma`` pixels (below 0.3 nothing visible happens)."""
    if sigma < 0.3:
        return photo
    return _at_working_size(photo, sigma, lambda img, k: cv2.GaussianBlur(img, (0, 0), k))


def motion_blur(photo: np.ndarray, length: float, angle_deg: float) -> np.ndarray:
    """Camera shake: a line kernel ``length`` pixels long at ``angle_deg`` (0 = horizontal)."""
    if length < 1.5:
        return photo

    def shake(img: np.ndarray, k: float) -> np.ndarray:
        n = int(math.ceil(k)) | 1
        kernel = np.zeros((n, n), np.float32)
        c = n // 2
        a = math.radians(angle_deg)
        dx, dy = math.cos(a) * k / 2, math.sin(a) * k / 2
        cv2.line(kernel, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1, cv2.LINE_AA)
        return cv2.filter2D(img, -1, kernel / kernel.sum())

    return _at_working_size(photo, length, shake)


def blur(photo: np.ndarray, kind: str, px: float, angle_deg: float = 0.0) -> np.ndarray:
    """``kind`` "defocus" (``px`` = sigma), "motion" (``px`` = length) or "none"."""
    if kind == "defocus":
        return defocus_blur(photo, px)
    if kind == "motion":
        return motion_blur(photo, px, angle_deg)
    if kind != "none":
        raise ValueError(f"blur kind must be one of {BLUR_KINDS}, not {kind!r}")
    return photo


def _at_working_size(photo: np.ndarray, px: float, apply: Callable[[np.ndarray, float], np.ndarray]) -> np.ndarray:
    """Strong blurs run at half size: they remove the fine detail a half-size image cannot
    hold anyway, at a quarter of the cost."""
    if px <= 3.0:
        return apply(photo, px)
    h, w = photo.shape[:2]
    small = cv2.resize(photo, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    return cv2.resize(apply(small, px / 2), (w, h), interpolation=cv2.INTER_LINEAR)


# --------------------------------------------------------------------------- sensor and encoder


def to_uint8(photo: np.ndarray) -> np.ndarray:
    """Round to 8 bits, saturating at 0 and 255 (what the camera's pipeline hands the encoder)."""
    return np.asarray(cv2.convertScaleAbs(np.maximum(photo, 0)), np.uint8)


def sensor_noise(img: np.ndarray, sigma: float, rng: np.random.Generator, *, tile: int | None = None) -> np.ndarray:
    """Zero-mean sensor noise of standard deviation ``sigma`` (0..255 units) on a uint8 image.

    Uniform noise from raw bytes: about 10x cheaper than Gaussian, and at a few units nobody
    sees the difference.  With ``tile``, one random tile is repeated (cheap at 12 MP,
    invisible at that scale).
    """
    if sigma <= 0:
        return img
    h, w = img.shape[:2]
    th, tw = (h, w) if tile is None else (min(h, tile), min(w, tile))
    noise: np.ndarray = np.frombuffer(rng.bytes(th * tw * 3), np.uint8).reshape(th, tw, 3)
    if tile is not None:
        noise = cv2.repeat(noise, -(-h // th), -(-w // tw))[:h, :w]
    k = sigma / 73.9  # std of uniform 0..255 is 73.9
    return cv2.addWeighted(img, 1.0, noise, k, -127.5 * k)


@dataclass(frozen=True)
class JpegPhoto:
    """A photo as the phone stores it: ``data`` the JPEG file, ``image`` decoded from it."""

    image: Image.Image
    data: bytes


def jpeg_round_trip(img: np.ndarray, quality: int) -> JpegPhoto:
    """Encode a uint8 RGB array as a baseline JPEG at ``quality`` (1-100, libjpeg's scale)
    and decode it again, artefacts included."""
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be 1-100, not {quality}")
    ok, enc = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV always encodes a uint8 RGB array
        raise RuntimeError("JPEG encoding failed")
    data = enc.tobytes()
    image = Image.open(io.BytesIO(data))
    image.load()
    return JpegPhoto(image=image, data=data)


# --------------------------------------------------------------------------- geometry


def perspective_warp(
    img: np.ndarray,
    src_quad: np.ndarray,
    dst_quad: np.ndarray,
    out_size: tuple[int, int],
    *,
    fill: Sequence[float] = (0, 0, 0),
) -> tuple[np.ndarray, np.ndarray]:
    """Warp ``img`` so that ``src_quad`` (4 corners in it) lands on ``dst_quad`` in an
    ``out_size`` = (width, height) picture; what comes into view outside ``img`` is
    ``fill``.  Coordinates are OpenCV's (pixel centres at integers).  Returns the warped
    picture and the 3x3 homography (source → output), to place other things the same way."""
    homography = cv2.getPerspectiveTransform(np.asarray(src_quad, np.float32), np.asarray(dst_quad, np.float32))
    warped = cv2.warpPerspective(
        img,
        homography,
        out_size,
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=tuple(float(v) for v in fill),
    )
    return warped, homography
