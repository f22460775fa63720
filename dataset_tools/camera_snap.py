"""Simulate a visitor's phone snap of a painting hanging on a museum wall.

Why: the catalogue holds clean scans, but queries are phone photos — a framed painting on a
coloured wall, seen off-axis, tilted, under a warm light with a glare spot, slightly blurred,
noisy and JPEG-compressed. Retrieval quality on clean scans says little about that, and
real snapshots with known painting corners are scarce. This module makes such photos from
any catalogue image, with the ground truth (where the painting's corners landed), so the
artwork locator and the whole search path can be measured and regression-tested.

Every random choice lives in :class:`SnapParams`; :func:`render_snap` is a pure function of
(painting, params), so a surprising benchmark case can be re-rendered and explained.

Speed: the scene is rendered at most 1600 px on the long side and upscaled, then sensor
grain is added at full resolution (latency benchmarks need real-sized phone JPEGs).
Measured 2026-11 on the 2-core dev box while other jobs kept it fully busy (process CPU
time): ~0.55 s for a 4032x3024 snap, ~0.13 s for the default 1024x768.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

__all__ = ["DIFFICULTIES", "Snap", "SnapParams", "draw_params", "render_snap", "simulate_snap", "trim_letterbox"]

DIFFICULTIES = ("easy", "default", "hard")

_RENDER_LONG_SIDE = 1600  # internal resolution cap; above this we upscale (phones are soft anyway)


@dataclass(frozen=True)
class SnapParams:
    """All random choices behind one snap (lengths are fractions, angles in degrees)."""

    out_size: tuple[int, int]
    difficulty: str
    trim_borders: bool  # hang the painting without the black letterbox bars of its scan
    seed: int  # seeds the texture and noise fields; everything else is below
    # wall
    wall_rgb: tuple[int, int, int]
    wall_blotch: float  # amplitude of low-frequency plaster/paint unevenness
    wall_grain: float  # amplitude of fine texture
    # frame (widths are fractions of the painting's shorter side; 0 = none)
    frame_width: float
    frame_rgb: tuple[int, int, int]
    frame_bevel: float  # strength of the moulding's light/dark profile
    mat_width: float  # passe-partout between frame and painting
    mat_rgb: tuple[int, int, int]
    shadow_strength: float  # drop shadow of the frame on the wall
    shadow_offset: tuple[float, float]  # fraction of the photo diagonal
    # placement and viewpoint
    area_frac: float  # target share of the photo covered by the painting (without frame)
    placement: tuple[float, float]  # where in the leftover room the framed painting sits, 0..1
    yaw_deg: float  # viewer off-axis left/right
    pitch_deg: float  # viewer off-axis up/down
    roll_deg: float  # in-plane tilt of the phone
    fov_deg: float  # horizontal field of view of the phone camera
    # distractors on the wall
    wall_label: bool  # a small museum label card beside the painting
    neighbour: str  # "none", "left" or "right": another framed work running off that edge
    #   of the photo (drawn only where some wall shows between it and the painting)
    neighbour_rgb: tuple[int, int, int]
    # light and camera
    exposure: float
    wb_gains: tuple[float, float, float]  # colour cast (white balance) per RGB channel
    light_angle_deg: float
    light_gradient: float  # brightness change across the photo, fraction
    vignette: float
    glare_strength: float  # 0 = no glare
    glare_center: tuple[float, float]  # fraction of the painting's bounding box
    glare_radius: float  # fraction of the photo diagonal
    blur_kind: str  # "none", "defocus" or "motion"
    blur_px: float  # at output resolution: Gaussian sigma or motion length
    motion_angle_deg: float
    noise_sigma: float  # sensor noise, in 0..255 units
    jpeg_quality: int


@dataclass(frozen=True)
class Snap:
    """A simulated phone photo and its ground truth.

    ``corners`` are where the painting's own corners (TL, TR, BR, BL of the painting image,
    inside any frame or mat) landed, in photo pixel coordinates (pixel centres at integers);
    ``frame_corners`` the same for the outer edge of the frame (equal when unframed).
    ``jpeg`` holds the encoded bytes ``photo`` was decoded from, for decode benchmarks.
    ``painting_box`` is the (left, top, right, bottom) part of the input image that was hung
    (all of it unless letterbox bars were trimmed).
    """

    photo: Image.Image
    corners: np.ndarray
    params: SnapParams
    frame_corners: np.ndarray
    jpeg: bytes
    painting_box: tuple[int, int, int, int]


def simulate_snap(
    painting: Image.Image,
    rng: np.random.Generator,
    *,
    out_size: tuple[int, int] = (1024, 768),
    difficulty: str = "default",
    trim_borders: bool = True,
) -> Snap:
    """Draw :class:`SnapParams` from ``rng`` and render the snap (deterministic given ``rng``).

    ``difficulty`` is "easy", "default" or "hard". ``trim_borders`` removes black letterbox
    bars (as in the 224 px WikiArt set) first: a painting on a wall has none.
    """
    params = draw_params(rng, out_size=out_size, difficulty=difficulty, trim_borders=trim_borders)
    return render_snap(painting, params)


def trim_letterbox(img: Image.Image, *, dark: int = 24) -> tuple[int, int, int, int]:
    """The (left, top, right, bottom) box of ``img`` without uniform near-black bars at its edges.

    A row/column counts as bar when 98 % of it is darker than ``dark`` (JPEG ringing makes a
    few bar pixels brighter). Returns the whole image when trimming would leave < 10 %.
    """
    grey = np.asarray(img.convert("L"))
    h, w = grey.shape
    rows = np.percentile(grey, 98, axis=1) >= dark
    cols = np.percentile(grey, 98, axis=0) >= dark
    if rows.sum() < 0.1 * h or cols.sum() < 0.1 * w:
        return (0, 0, w, h)
    top, bottom = int(np.argmax(rows)), int(h - np.argmax(rows[::-1]))
    left, right = int(np.argmax(cols)), int(w - np.argmax(cols[::-1]))
    return (left, top, right, bottom)


# --------------------------------------------------------------------------- parameters

_WALL_PALETTE = (  # museum walls: whites, greys, and the deep colours of old-master rooms
    (236, 233, 226),
    (224, 224, 220),
    (210, 205, 195),
    (190, 190, 188),
    (150, 150, 150),
    (120, 40, 45),
    (60, 80, 70),
    (40, 55, 80),
    (85, 85, 90),
    (200, 180, 150),
    (160, 120, 90),
)
_FRAME_PALETTE = (
    (180, 140, 60),
    (150, 110, 45),
    (30, 28, 26),
    (90, 60, 35),
    (245, 242, 235),
    (140, 140, 140),
    (60, 40, 25),
    (200, 170, 110),
)


def draw_params(
    rng: np.random.Generator,
    *,
    out_size: tuple[int, int] = (1024, 768),
    difficulty: str = "default",
    trim_borders: bool = True,
) -> SnapParams:
    """Draw every random choice of one snap. ``difficulty`` widens the ranges."""
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"difficulty must be one of {DIFFICULTIES}, not {difficulty!r}")
    easy, hard = difficulty == "easy", difficulty == "hard"
    u = rng.uniform

    def jitter(rgb: tuple[int, int, int], amount: float) -> tuple[int, int, int]:
        r, g, b = (int(np.clip(c + rng.normal(0, amount), 0, 255)) for c in rgb)
        return r, g, b

    max_angle = 10.0 if easy else (35.0 if hard else 25.0)
    max_roll = 3.0 if easy else (12.0 if hard else 8.0)
    area_lo, area_hi = (0.35, 0.8) if easy else ((0.15, 0.85) if hard else (0.25, 0.8))

    framed = rng.random() < (0.9 if easy else 0.75)
    frame_width = float(u(0.02, 0.12)) if framed else 0.0
    mat_width = float(u(0.03, 0.10)) if framed and rng.random() < 0.2 else 0.0

    # A blend of sampled viewing angles: most snaps are near frontal, some strongly oblique.
    yaw = float(rng.choice([-1, 1]) * max_angle * rng.beta(1.2, 1.8))
    pitch = float(rng.choice([-1, 1]) * max_angle * 0.6 * rng.beta(1.2, 2.0))

    blur_kind = "none"
    if not easy:
        blur_kind = str(rng.choice(["none", "defocus", "motion"], p=[0.4, 0.35, 0.25]))
    blur_px = 0.0
    if blur_kind == "defocus":
        blur_px = float(u(0.6, 3.0 if hard else 2.0))
    elif blur_kind == "motion":
        blur_px = float(u(3.0, 14.0 if hard else 9.0))
    # blur is given at 1024 px wide and scaled with the output so "how blurry" is size-free
    blur_px *= out_size[0] / 1024.0

    glare = 0.0
    if not easy and rng.random() < (0.7 if hard else 0.5):
        glare = float(u(0.15, 0.8 if hard else 0.55))
    cast = 0.06 if easy else (0.2 if hard else 0.12)

    return SnapParams(
        out_size=(int(out_size[0]), int(out_size[1])),
        difficulty=difficulty,
        trim_borders=bool(trim_borders),
        seed=int(rng.integers(0, 2**31 - 1)),
        wall_rgb=jitter(_WALL_PALETTE[rng.integers(len(_WALL_PALETTE))], 12),
        wall_blotch=float(u(0.005, 0.04)),
        wall_grain=float(u(0.0, 0.04)),
        frame_width=frame_width,
        frame_rgb=jitter(_FRAME_PALETTE[rng.integers(len(_FRAME_PALETTE))], 15),
        frame_bevel=float(u(0.1, 0.5)),
        mat_width=mat_width,
        mat_rgb=jitter((238, 234, 222), 8),
        shadow_strength=float(u(0.0, 0.45)),
        shadow_offset=(float(u(-0.006, 0.006)), float(u(0.0, 0.012))),
        area_frac=float(u(area_lo, area_hi)),
        placement=(float(u(0.1, 0.9)), float(u(0.1, 0.9))),
        yaw_deg=yaw,
        pitch_deg=pitch,
        roll_deg=float(u(-max_roll, max_roll)),
        fov_deg=float(u(60.0, 75.0)),
        wall_label=bool(not easy and rng.random() < 0.5),
        neighbour=str(rng.choice(["none", "left", "right"], p=[0.6, 0.2, 0.2])) if not easy else "none",
        neighbour_rgb=jitter((120, 100, 80), 60),
        exposure=float(np.exp(rng.normal(0.0, 0.08 if easy else (0.25 if hard else 0.15)))),
        wb_gains=(float(1 + rng.normal(0, cast / 2)), 1.0, float(1 + rng.normal(-cast / 3, cast / 2))),
        light_angle_deg=float(u(0, 360)),
        light_gradient=float(u(0.0, 0.15 if easy else (0.5 if hard else 0.35))),
        vignette=float(u(0.0, 0.35)),
        glare_strength=glare,
        glare_center=(float(u(0.1, 0.9)), float(u(0.1, 0.9))),
        glare_radius=float(u(0.04, 0.15)),
        blur_kind=blur_kind,
        blur_px=blur_px,
        motion_angle_deg=float(u(0, 180)),
        noise_sigma=float(u(0.5, 2.0 if easy else (8.0 if hard else 5.0))),
        jpeg_quality=int(rng.integers(85, 93) if easy else (rng.integers(50, 86) if hard else rng.integers(60, 93))),
    )


# --------------------------------------------------------------------------- rendering


def render_snap(painting: Image.Image, params: SnapParams) -> Snap:
    """Render the snap described by ``params`` (a pure function of its inputs)."""
    out_w, out_h = params.out_size
    scale = min(1.0, _RENDER_LONG_SIDE / max(out_w, out_h))  # internal px per output px
    iw, ih = max(1, round(out_w * scale)), max(1, round(out_h * scale))
    rng = np.random.default_rng(params.seed)

    box = trim_letterbox(painting) if params.trim_borders else (0, 0, *painting.size)
    paint = np.asarray(painting.convert("RGB").crop(box))
    geo = _geometry(paint.shape[1] / paint.shape[0], params)
    to_internal = lambda pts: (pts + 0.5) * scale - 0.5  # noqa: E731 - pixel-centre convention

    outer_i = to_internal(geo.outer)
    canvas, canvas_outer = _framed_canvas(paint, params, outer_i, rng)
    homography = cv2.getPerspectiveTransform(canvas_outer, outer_i.astype(np.float32))

    photo = _wall(iw, ih, params, rng)
    _draw_distractors(photo, homography, canvas_outer, params, rng)

    warped = cv2.warpPerspective(canvas, homography, (iw, ih), flags=cv2.INTER_LINEAR)
    mask = np.zeros((ih, iw), np.float32)
    cv2.fillConvexPoly(mask, np.round(outer_i * 16).astype(np.int32), 1.0, cv2.LINE_AA, shift=4)

    diag = math.hypot(iw, ih)
    if params.shadow_strength > 0:
        # the frame's drop shadow on the wall: a shifted, blurred mask (at 1/4 size: it is soft)
        qw, qh = max(2, iw // 4), max(2, ih // 4)
        small = cv2.resize(mask, (qw, qh), interpolation=cv2.INTER_AREA)
        shift = np.float32([[1, 0, params.shadow_offset[0] * diag / 4], [0, 1, params.shadow_offset[1] * diag / 4]])
        small = cv2.GaussianBlur(cv2.warpAffine(small, shift, (qw, qh)), (0, 0), max(0.5, 0.0015 * diag))
        small = 1.0 - params.shadow_strength * np.repeat(small[..., None], 3, 2)
        photo = cv2.multiply(photo, cv2.resize(small, (iw, ih), interpolation=cv2.INTER_LINEAR))
    photo = cv2.blendLinear(photo, warped, 1.0 - mask, mask)

    photo = _light(photo, params, geo.inner * scale, diag)
    photo = _blur(photo, params, scale)
    img8 = _add_noise(cv2.convertScaleAbs(photo), params.noise_sigma, rng)  # photo >= 0: saturating cast
    if (iw, ih) != (out_w, out_h):
        img8 = cv2.resize(img8, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
        # phones deliver full-resolution grain; a tiled field keeps 12 MP cheap
        img8 = _add_noise(img8, params.noise_sigma * 0.5, rng, tile=509)

    ok, enc = cv2.imencode(
        ".jpg", cv2.cvtColor(img8, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, params.jpeg_quality]
    )
    if not ok:  # pragma: no cover - OpenCV always encodes a uint8 RGB array
        raise RuntimeError("JPEG encoding failed")
    jpeg = enc.tobytes()
    photo_img = Image.open(io.BytesIO(jpeg))
    photo_img.load()
    return Snap(
        photo=photo_img,
        corners=geo.inner.astype(np.float32),
        params=params,
        frame_corners=geo.outer.astype(np.float32),
        jpeg=jpeg,
        painting_box=box,
    )


@dataclass(frozen=True)
class _Geometry:
    inner: np.ndarray  # painting corners in the photo (output px)
    outer: np.ndarray  # frame corners in the photo (output px)


def _geometry(aspect: float, p: SnapParams) -> _Geometry:
    """Project the framed painting through a pinhole phone camera and place it in the photo.

    The painting is a ``aspect`` x 1 rectangle in the wall plane, rotated by yaw/pitch/roll
    and seen from a distance chosen so it covers ``area_frac`` of the photo; so the
    keystone is what a real off-axis viewer at that distance would see.
    """
    out_w, out_h = p.out_size
    short = min(aspect, 1.0)
    border = (p.frame_width + p.mat_width) * short
    hw, hh = aspect / 2, 0.5
    inner = np.array([[-hw, -hh], [hw, -hh], [hw, hh], [-hw, hh]], np.float64)
    outer = inner + np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64) * border

    f = (out_w / 2) / math.tan(math.radians(p.fov_deg) / 2)
    dist = f * math.sqrt(aspect / (p.area_frac * out_w * out_h))
    ry, rx, rz = (math.radians(a) for a in (p.yaw_deg, p.pitch_deg, p.roll_deg))
    rot_y = np.array([[math.cos(ry), 0, math.sin(ry)], [0, 1, 0], [-math.sin(ry), 0, math.cos(ry)]])
    rot_x = np.array([[1, 0, 0], [0, math.cos(rx), -math.sin(rx)], [0, math.sin(rx), math.cos(rx)]])
    rot_z = np.array([[math.cos(rz), -math.sin(rz), 0], [math.sin(rz), math.cos(rz), 0], [0, 0, 1]])
    rot = rot_z @ rot_x @ rot_y

    def project(pts: np.ndarray) -> np.ndarray:
        world = np.c_[pts, np.zeros(len(pts))] @ rot.T + [0, 0, dist]
        return f * world[:, :2] / world[:, 2:3]

    inner_p, outer_p = project(inner), project(outer)
    # exact target area (perspective changed it a little), then shrink to fit with a margin
    k = math.sqrt(p.area_frac * out_w * out_h / _area(inner_p))
    margin = 0.01 * min(out_w, out_h)
    span = outer_p.max(0) - outer_p.min(0)
    k = min(k, (out_w - 2 * margin) / span[0], (out_h - 2 * margin) / span[1])
    inner_p, outer_p = inner_p * k, outer_p * k
    lo, hi = outer_p.min(0), outer_p.max(0)
    room = np.array([out_w - 1 - 2 * margin, out_h - 1 - 2 * margin]) - (hi - lo)
    offset = margin + np.maximum(room, 0) * np.asarray(p.placement) - lo
    return _Geometry(inner=inner_p + offset, outer=outer_p + offset)


def _area(quad: np.ndarray) -> float:
    x, y = quad[:, 0], quad[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _framed_canvas(
    paint: np.ndarray, p: SnapParams, outer_photo: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The flat framed painting, at about the resolution it will have in the photo, and its
    outer corners (pixel-edge convention, for the homography into the photo)."""
    ph, pw = paint.shape[:2]
    aspect = pw / ph
    border = (p.frame_width + p.mat_width) * min(aspect, 1.0)
    side = max(np.linalg.norm(outer_photo - np.roll(outer_photo, -1, 0), axis=1))
    px_per_unit = max(16.0, side / (max(aspect, 1.0) + 2 * border))
    frame_px = p.frame_width * min(aspect, 1.0) * px_per_unit
    mat_px = p.mat_width * min(aspect, 1.0) * px_per_unit
    inner_w, inner_h = max(2, round(aspect * px_per_unit)), max(2, round(px_per_unit))
    b = round(frame_px + mat_px)
    cw, ch = inner_w + 2 * b, inner_h + 2 * b

    canvas = np.empty((ch, cw, 3), np.float32)
    interp = cv2.INTER_AREA if inner_w < pw else cv2.INTER_CUBIC
    canvas[b : b + inner_h, b : b + inner_w] = cv2.resize(paint, (inner_w, inner_h), interpolation=interp)
    if b > 0:
        ys, xs = np.arange(ch, dtype=np.float32), np.arange(cw, dtype=np.float32)
        dy, dx = np.minimum(ys, ch - 1 - ys), np.minimum(xs, cw - 1 - xs)
        dist = np.minimum(dy[:, None], dx[None, :])  # to the outer edge; mitred corners
        fp = round(frame_px)
        if fp > 0:
            sel = dist < fp
            left_right = dx[None, :] < dy[:, None]
            lit = np.where(  # light from the top-left
                left_right,
                np.where(xs < cw / 2, 1.05, 0.95).astype(np.float32)[None, :],
                np.where(ys < ch / 2, 1.12, 0.8).astype(np.float32)[:, None],
            )
            t = np.minimum(dist / fp, 1.0)
            profile = 1.0 + p.frame_bevel * (0.6 * np.cos(np.float32(1.5 * np.pi) * t) - 0.1)
            grain = 1.0 + 0.04 * cv2.resize(
                rng.standard_normal((max(2, ch // 6), max(2, cw // 6))).astype(np.float32), (cw, ch)
            )
            canvas[sel] = (profile * lit * grain)[sel][:, None] * np.asarray(p.frame_rgb, np.float32)
            # the frame's lip casts a thin shadow onto the top and left of the picture
            lip = max(1, round(0.02 * px_per_unit))
            ramp = 1.0 - 0.35 * np.clip(1.0 - (np.arange(lip, dtype=np.float32) + 0.5) / lip, 0, 1)
            canvas[b : b + lip, b : cw - b] *= ramp[:, None, None]
            canvas[b : ch - b, b : b + lip] *= ramp[None, :, None]
        if mat_px > 0:
            mat = np.asarray(p.mat_rgb, np.float32)
            canvas[(dist >= fp) & (dist < b)] = mat
            cut = (dist >= b - max(1.0, 0.15 * mat_px)) & (dist < b)  # the bevelled cut catches light
            canvas[cut] = np.minimum(mat * 1.08, 255)
    canvas = np.clip(canvas, 0, 255)
    c_outer = np.float32([[-0.5, -0.5], [cw - 0.5, -0.5], [cw - 0.5, ch - 0.5], [-0.5, ch - 0.5]])
    return canvas, c_outer


def _wall(w: int, h: int, p: SnapParams, rng: np.random.Generator) -> np.ndarray:
    """Painted plaster: a base colour with slow blotches and fine grain (float32 RGB)."""
    low = rng.standard_normal((max(2, h // 160 + 2), max(2, w // 160 + 2))).astype(np.float32)
    low = cv2.resize(low, (w, h), interpolation=cv2.INTER_LINEAR)
    fine = cv2.GaussianBlur(np.frombuffer(rng.bytes(w * h), np.uint8).reshape(h, w), (3, 3), 0)
    # field = 1 + blotch * low + grain * (fine / 127.5 - 1)
    field = cv2.scaleAdd(
        low, p.wall_blotch, np.float32(1.0 - p.wall_grain) + fine.astype(np.float32) * np.float32(p.wall_grain / 127.5)
    )
    return cv2.merge([field * np.float32(c) for c in p.wall_rgb])


def _draw_distractors(
    photo: np.ndarray,
    homography: np.ndarray,
    canvas_outer: np.ndarray,
    p: SnapParams,
    rng: np.random.Generator,
) -> None:
    """Things on the wall that a locator must not mistake for the painting."""
    x0, y0 = canvas_outer[0]
    x1, y1 = canvas_outer[2]
    cw, ch = x1 - x0, y1 - y0

    def poly(rect: tuple[float, float, float, float], color: np.ndarray) -> None:
        a, b, c, d = rect
        pts = np.float32([[[a, b]], [[c, b]], [[c, d]], [[a, d]]])
        q = cv2.perspectiveTransform(pts, homography).reshape(-1, 2)
        cv2.fillConvexPoly(photo, np.round(q * 16).astype(np.int32), color.tolist(), cv2.LINE_AA, shift=4)

    if p.wall_label:
        lw, lh = 0.16 * cw, 0.09 * cw
        lx = x1 + 0.06 * cw if rng.random() < 0.7 else x0 + 0.1 * cw
        ly = y1 - lh - 0.05 * ch if lx > x1 else y1 + 0.05 * ch
        poly((lx, ly, lx + lw, ly + lh), np.float32([240, 238, 232]))
        for i in range(4):  # a few lines of "text"
            ty = ly + lh * (0.2 + 0.17 * i)
            poly((lx + 0.1 * lw, ty, lx + lw * rng.uniform(0.5, 0.9), ty + 0.05 * lh), np.float32([60, 60, 60]))
    if p.neighbour != "none":
        # Another work hangs beside this one and runs off the photo's edge (the visitor
        # centred *this* painting). Find where that edge is on the wall, to place it across.
        ih, iw = photo.shape[:2]
        inv = np.linalg.inv(homography)
        mid_y = float(cv2.perspectiveTransform(np.float32([[[0, (y0 + y1) / 2]]]), homography)[0, 0, 1])
        edge_x = 0.0 if p.neighbour == "left" else iw - 1.0
        wall_edge = cv2.perspectiveTransform(np.float32([[[edge_x, mid_y]]]), inv)[0, 0, 0]
        room = (x0 - wall_edge) if p.neighbour == "left" else (wall_edge - x1)
        if room > 0.3 * cw:  # else too little wall shows on that side: nothing to draw
            gap = max(0.2 * cw, room * rng.uniform(0.3, 0.7))
            nw = max(cw * rng.uniform(0.6, 1.2), (room - gap) * 1.3)
            nh = ch * rng.uniform(0.7, 1.3)
            nx = x1 + gap if p.neighbour == "right" else x0 - gap - nw
            ny = y0 + (ch - nh) * rng.uniform(0.2, 0.8)
            fb = 0.06 * min(nw, nh)
            poly((nx, ny, nx + nw, ny + nh), np.asarray(p.frame_rgb, np.float32) * 0.8)
            poly((nx + fb, ny + fb, nx + nw - fb, ny + nh - fb), np.asarray(p.neighbour_rgb, np.float32))
            for _ in range(3):
                a, b = rng.uniform(nx + fb, nx + nw - fb), rng.uniform(ny + fb, ny + nh - fb)
                poly(
                    (a, b, min(a + nw * 0.3, nx + nw - fb), min(b + nh * 0.3, ny + nh - fb)),
                    rng.uniform(0, 255, 3).astype(np.float32),
                )


def _light(photo: np.ndarray, p: SnapParams, painting_quad: np.ndarray, diag: float) -> np.ndarray:
    """Exposure, white balance, a lighting gradient, vignetting and a glare spot.

    All smooth, so evaluated on a coarse grid and upsampled: 12 MP stays cheap.
    """
    h, w = photo.shape[:2]
    gh, gw = max(2, h // 8), max(2, w // 8)
    ys, xs = np.mgrid[0:gh, 0:gw].astype(np.float32)
    ys, xs = (ys + 0.5) * h / gh - h / 2, (xs + 0.5) * w / gw - w / 2
    a = math.radians(p.light_angle_deg)
    grad = 1.0 + p.light_gradient * (xs * math.cos(a) + ys * math.sin(a)) / (diag / 2)
    vig = 1.0 - p.vignette * (xs**2 + ys**2) / (diag / 2) ** 2
    gain = (p.exposure * grad * vig)[..., None] * np.asarray(p.wb_gains, np.float32)
    photo = cv2.multiply(photo, cv2.resize(gain.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR))
    if p.glare_strength > 0:
        lo, hi = painting_quad.min(0), painting_quad.max(0)
        cx, cy = lo + (hi - lo) * np.asarray(p.glare_center)
        r = p.glare_radius * diag
        g = 255.0 * p.glare_strength * np.exp(-((xs + w / 2 - cx) ** 2 + (ys + h / 2 - cy) ** 2) / (2 * r * r))
        g = cv2.resize(np.repeat(g[..., None], 3, 2).astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
        photo = cv2.add(photo, g)
    return photo


def _blur(photo: np.ndarray, p: SnapParams, scale: float) -> np.ndarray:
    """Defocus (Gaussian) or camera shake (a line kernel). Strong blurs are applied at half
    size: they remove the fine detail that a half-size image cannot hold anyway."""
    px = p.blur_px * scale
    if p.blur_kind == "none" or px < (0.3 if p.blur_kind == "defocus" else 1.5):
        return photo
    h, w = photo.shape[:2]
    half = px > 3.0
    work = cv2.resize(photo, (w // 2, h // 2), interpolation=cv2.INTER_AREA) if half else photo
    k = px / 2 if half else px
    if p.blur_kind == "defocus":
        work = cv2.GaussianBlur(work, (0, 0), k)
    else:
        n = int(math.ceil(k)) | 1
        kernel = np.zeros((n, n), np.float32)
        c = n // 2
        a = math.radians(p.motion_angle_deg)
        dx, dy = math.cos(a) * k / 2, math.sin(a) * k / 2
        cv2.line(kernel, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1, cv2.LINE_AA)
        work = cv2.filter2D(work, -1, kernel / kernel.sum())
    return cv2.resize(work, (w, h), interpolation=cv2.INTER_LINEAR) if half else work


def _add_noise(img: np.ndarray, sigma: float, rng: np.random.Generator, *, tile: int | None = None) -> np.ndarray:
    """Add zero-mean sensor noise. Uniform noise from raw bytes: ~10x cheaper than Gaussian;
    with ``tile``, one random tile repeated (cheap at 12 MP, invisible at that scale)."""
    if sigma <= 0:
        return img
    h, w = img.shape[:2]
    th, tw = (h, w) if tile is None else (min(h, tile), min(w, tile))
    noise = np.frombuffer(rng.bytes(th * tw * 3), np.uint8).reshape(th, tw, 3)
    if tile is not None:
        noise = cv2.repeat(noise, -(-h // th), -(-w // tw))[:h, :w]
    k = sigma / 73.9  # std of uniform 0..255 is 73.9
    return cv2.addWeighted(img, 1.0, noise, k, -127.5 * k)
