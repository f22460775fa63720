"""The demo collection artsnap draws for itself.

Nothing may be downloaded and the WikiArt set in ``../shared`` is research-only, so a fresh
``make run`` needs a collection it can make: a few hundred procedurally painted images in
eight families that look nothing alike (a Mondrian grid, op-art stripes, a seascape, van
Gogh-ish swirls, pointillist dots, a portrait on a dark ground, cubist facets, an ink wash).
Within a family palette, layout and counts vary, so search has neighbours to rank; across
families colour, texture and structure differ, so a pretrained CNN tells them apart and a
search with one image visibly returns its family.

The layout is exactly what ingest expects from a curator, ``<family>/<family>_NNNN.jpg``,
so the folder name becomes the label.  Two deliberate duplicates show deduplication at work
(see :data:`DEMO_DUPLICATES`): an exact copy filed under a *second* family, and a resized,
re-encoded copy that only the perceptual hash catches.

Every image has its own random stream seeded by ``(seed, family, index)``: output is
byte-identical for a seed, and ``per_family=10`` gives the first ten images of
``per_family=40``.  Shapes are drawn at twice the size and downsampled, which is the cheap
way to anti-alias with Pillow.
"""

from __future__ import annotations

import io
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np
from PIL import Image, ImageChops, ImageDraw

__all__ = [
    "DEMO_DUPLICATES",
    "FAMILIES",
    "DemoDuplicate",
    "DemoSummary",
    "generate_demo_collection",
    "paint",
]

Rng = np.random.Generator
RGB = tuple[int, int, int]
T = TypeVar("T")

_SUPERSAMPLE = 2
_JPEG_QUALITY = 90


@dataclass(frozen=True)
class DemoDuplicate:
    """``path`` is a copy of ``original`` (both relative POSIX paths, i.e. ``source_path``)."""

    path: str
    original: str
    kind: Literal["exact", "near"]


@dataclass(frozen=True)
class DemoSummary:
    """What was written.  ``counts`` is files per family folder, duplicates included (what
    ingest will see per label); ``images`` is the total number of files."""

    out_dir: Path
    families: tuple[str, ...]
    counts: dict[str, int]
    images: int
    duplicates: tuple[DemoDuplicate, ...]
    seconds: float


# ---------------------------------------------------------------------------------------
# small drawing helpers


def _jitter(rng: Rng, color: RGB, amount: int) -> RGB:
    """The colour moved by up to ``amount`` per channel: variation inside a family."""
    r, g, b = (min(255, max(0, c + d)) for c, d in zip(color, rng.integers(-amount, amount + 1, 3).tolist()))
    return (r, g, b)


def _pick(rng: Rng, options: Sequence[T]) -> T:
    return options[int(rng.integers(len(options)))]


def _grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in [-1, 1] as a row ``x`` (1, n) and a column ``y`` (n, 1),
    which broadcast to full images only where needed; ``y`` grows downwards."""
    axis = (np.arange(n, dtype=np.float32) + 0.5) / n * 2 - 1
    return axis[None, :], axis[:, None]


def _vertical_gradient(height: int, width: int, top: RGB, bottom: RGB, y0: float = 0.0, y1: float = 1.0) -> np.ndarray:
    """``top`` until fraction ``y0`` of the height, blending to ``bottom`` at ``y1``."""
    t = np.clip((np.linspace(0, 1, height, dtype=np.float32) - y0) / max(y1 - y0, 1e-6), 0, 1)
    col = (1 - t)[:, None] * np.array(top, np.float32) + t[:, None] * np.array(bottom, np.float32)
    return np.repeat(col[:, None, :], width, axis=1)


def _to_image(arr: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


# ---------------------------------------------------------------------------------------
# the families; each paints at S = size * _SUPERSAMPLE pixels


def _mondrian(rng: Rng, S: int) -> Image.Image:
    """Primary-colour blocks between thick black bars on an off-white ground."""
    ground = _jitter(rng, (242, 238, 226), 8)
    img = Image.new("RGB", (S, S), ground)
    rects = [(0.0, 0.0, float(S), float(S))]
    for _ in range(int(rng.integers(5, 11))):
        rects.sort(key=lambda r: (r[2] - r[0]) * (r[3] - r[1]))
        x0, y0, x1, y1 = rects.pop()
        t = float(rng.uniform(0.28, 0.72))
        if (x1 - x0) >= (y1 - y0) * float(rng.uniform(0.7, 1.4)):
            xm = x0 + t * (x1 - x0)
            rects += [(x0, y0, xm, y1), (xm, y0, x1, y1)]
        else:
            ym = y0 + t * (y1 - y0)
            rects += [(x0, y0, x1, ym), (x0, ym, x1, y1)]
    palette = [(206, 32, 36), (22, 52, 150), (246, 204, 24), (20, 20, 20)]
    draw = ImageDraw.Draw(img)
    order = rng.permutation(len(rects))
    n_filled = int(rng.integers(2, max(3, len(rects) // 2 + 1)))
    for k, i in enumerate(order[:n_filled]):
        colour = palette[k % 3] if k < 3 else _pick(rng, palette)
        x0, y0, x1, y1 = rects[i]
        draw.rectangle((x0, y0, x1, y1), fill=_jitter(rng, colour, 10))
    bar = max(3, int(S * rng.uniform(0.018, 0.032)))
    for x0, y0, x1, y1 in rects:
        draw.rectangle((x0, y0, x1, y1), outline=(15, 15, 15), width=bar)
    return img


def _stripes(rng: Rng, S: int) -> Image.Image:
    """Op-art: hard-edged stripes bent by a sine warp (linear, concentric or radial).

    Stripe width swells and thins around one or two random centres (Bridget Riley's
    bulges).  That puts large light and dark regions into the picture; without them every
    stripe image is the same mid-grey at the coarse scale the perceptual hash looks at.
    """
    x, y = _grid(S)
    angle = float(rng.uniform(0, math.pi))
    freq = float(rng.uniform(14, 32))
    amp = float(rng.uniform(0.4, 2.5))
    k = float(rng.uniform(1.5, 5))
    mode = int(rng.integers(3))
    if mode == 0:
        u = x * math.cos(angle) + y * math.sin(angle)
        v = -x * math.sin(angle) + y * math.cos(angle)
        phase = freq * u + amp * np.sin(k * math.pi * v)
    elif mode == 1:
        cx, cy = rng.uniform(-0.4, 0.4, 2)
        r = np.hypot(x - cx, y - cy)
        phase = freq * r + amp * np.sin(round(k) * np.arctan2(y - cy, x - cx))  # whole lobes: no seam
    else:
        theta = np.arctan2(y, x)
        phase = round(freq / 2) * theta + amp * 3 * np.hypot(x, y)
    duty = np.zeros((S, S), np.float32)
    for _ in range(int(rng.integers(1, 3))):
        bx, by = rng.uniform(-0.8, 0.8, 2)
        width = float(rng.uniform(0.25, 0.6))
        duty += float(rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 0.85)) * np.exp(
            -((x - bx) ** 2 + (y - by) ** 2) / (2 * width**2)
        )
    mask = np.sin(phase) > np.clip(duty, -0.9, 0.9)
    pairs = [
        ((15, 15, 15), (245, 245, 240)),
        ((20, 20, 90), (240, 240, 230)),
        ((200, 30, 40), (245, 240, 225)),
        ((10, 10, 10), (240, 200, 30)),
    ]
    dark, light = pairs[0] if rng.random() < 0.5 else _pick(rng, pairs[1:])
    return Image.fromarray(np.where(mask[..., None], np.uint8(dark), np.uint8(light)), "RGB")


def _seascape(rng: Rng, S: int) -> Image.Image:
    """Sky gradient, a low sun and its reflection, a darker sea combed by wave strokes."""
    skies = [
        ((40, 60, 140), (250, 170, 90)),
        ((90, 150, 220), (225, 235, 245)),
        ((60, 30, 90), (250, 120, 70)),
        ((120, 170, 210), (250, 220, 160)),
    ]
    top, low = _pick(rng, skies)
    horizon = float(rng.uniform(0.42, 0.62))
    sea_top = _jitter(rng, (40, 90, 130), 20)
    sea_bottom = _jitter(rng, (10, 35, 60), 10)
    h = int(horizon * S)
    img = _to_image(_vertical_gradient(S, S, _jitter(rng, top, 15), _jitter(rng, low, 15), 0.0, horizon))
    draw = ImageDraw.Draw(img, "RGBA")
    sx = float(rng.uniform(0.2, 0.8)) * S
    sy = h - float(rng.uniform(0.05, 0.22)) * S
    sr = float(rng.uniform(0.04, 0.08)) * S
    sun = _jitter(rng, (255, 210, 120), 20)
    for k in range(6, -1, -1):  # the glow, then the disc itself
        rr = sr * (1 + k * 0.5)
        draw.ellipse((sx - rr, sy - rr, sx + rr, sy + rr), fill=sun + ((18 if k else 255),))
    # The sea is pasted over the lower part, so the sun and its glow stop at the horizon.
    img.paste(_to_image(_vertical_gradient(S - h, S, sea_top, sea_bottom)), (0, h))
    draw = ImageDraw.Draw(img, "RGBA")
    for _ in range(int(rng.integers(140, 260))):
        t = float(rng.random()) ** 0.7
        wy = h + 4 + t * (S - h)
        wx = float(rng.uniform(-0.1, 1.1)) * S
        ww = (0.03 + 0.12 * t) * S
        light = _jitter(rng, (200, 225, 235), 25)
        draw.arc(
            (wx - ww, wy - ww * 0.25, wx + ww, wy + ww * 0.25),
            200,
            340,
            fill=light + (200,),
            width=max(1, int(S * 0.004 * (1 + 2 * t))),
        )
    for k in range(int(rng.integers(8, 16))):
        ry = h + 3 + k * (S - h) / 18
        rw = sr * (0.5 + k * 0.15) * float(rng.uniform(0.6, 1.2))
        draw.line((sx - rw, ry, sx + rw, ry), fill=sun + (170,), width=max(2, S // 160))
    return img


def _starry_swirls(rng: Rng, S: int) -> Image.Image:
    """Short thick strokes following a field of vortices under glowing stars and a moon."""
    arr = _vertical_gradient(S, S, _jitter(rng, (15, 30, 90), 12), _jitter(rng, (40, 80, 150), 15))
    img = _to_image(arr)
    draw = ImageDraw.Draw(img, "RGBA")
    n_vort = int(rng.integers(2, 5))
    centres = rng.uniform(0.1, 0.9, (n_vort, 2)) * S
    spins = rng.choice([-1.0, 1.0], n_vort) * rng.uniform(0.6, 1.4, n_vort)
    drift = rng.normal(0, 0.3, 2)
    blues = [(60, 110, 200), (110, 160, 230), (30, 60, 150), (200, 220, 240), (240, 220, 120)]
    step = S * 0.012
    width = max(2, int(S * 0.011))
    # Integrate every stroke at once: positions (n, 2), one small numpy step per segment.
    n = int(rng.integers(650, 900))
    length = int(rng.integers(5, 9))
    p = rng.uniform(0, S, (n, 2))
    paths = [p]
    for _ in range(length):
        d = p[:, None, :] - centres[None, :, :]
        r2 = (d**2).sum(-1) + (S * 0.05) ** 2
        v = (np.stack([-d[..., 1], d[..., 0]], -1) * (spins / r2)[..., None]).sum(1) * S * 0.3 + drift
        p = p + v / (np.linalg.norm(v, axis=1, keepdims=True) + 1e-6) * step
        paths.append(p)
    strokes = np.stack(paths, 1).tolist()
    colours = np.clip(np.array(blues)[rng.integers(len(blues), size=n)] + rng.integers(-20, 21, (n, 3)), 0, 255)
    for pts, (r, g, b) in zip(strokes, colours.tolist()):
        draw.line([tuple(q) for q in pts], fill=(r, g, b, 230), width=width)
    for _ in range(int(rng.integers(5, 11))):
        cx, cy = rng.uniform(0.05, 0.95) * S, rng.uniform(0.05, 0.6) * S
        r = float(rng.uniform(0.012, 0.03)) * S
        for k in range(5, 0, -1):
            rr = r * (1 + k * 0.6)
            draw.ellipse((cx - rr, cy - rr, cx + rr, cy + rr), fill=(250, 230, 120, 40))
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(255, 245, 180, 255))
    if rng.random() < 0.7:  # a dark cypress rising from the bottom edge
        base = float(rng.uniform(0.05, 0.35)) * S if rng.random() < 0.5 else float(rng.uniform(0.65, 0.95)) * S
        top = float(rng.uniform(0.15, 0.45)) * S
        w = float(rng.uniform(0.06, 0.12)) * S
        pts = [
            (base - w, S),
            (base - w * 0.3, top + (S - top) * 0.3),
            (base, top),
            (base + w * 0.35, top + (S - top) * 0.4),
            (base + w, S),
        ]
        draw.polygon(pts, fill=(20, 35, 25, 255))
    return img


def _pointillism(rng: Rng, S: int) -> Image.Image:
    """Thousands of small pure-colour dots sampling a soft landscape, on a pale ground."""
    small = 16
    sky = _vertical_gradient(small, small, _jitter(rng, (140, 190, 235), 25), _jitter(rng, (235, 225, 190), 20))
    horizon = int(rng.integers(6, 10))
    greens = _vertical_gradient(small, small, _jitter(rng, (120, 170, 80), 30), _jitter(rng, (60, 110, 50), 20))
    field = sky.copy()
    field[horizon:] = greens[: small - horizon]
    for _ in range(int(rng.integers(2, 5))):  # trees / figures as colour blobs
        bx, by = int(rng.integers(0, small)), int(rng.integers(horizon - 4, small))
        blob = np.array(
            _jitter(rng, _pick(rng, [(40, 90, 40), (200, 80, 60), (60, 60, 150), (230, 200, 80)]), 20),
            np.float32,
        )
        field[max(0, by - 2) : by + 2, max(0, bx - 1) : bx + 2] = blob
    guide = np.asarray(Image.fromarray(field.astype(np.uint8)).resize((S, S), Image.BICUBIC), np.float32)
    img = Image.new("RGB", (S, S), _jitter(rng, (245, 240, 228), 6))
    draw = ImageDraw.Draw(img)
    r = S * float(rng.uniform(0.006, 0.01))
    n = int(rng.integers(4500, 6500))
    xs, ys = rng.uniform(0, S, n), rng.uniform(0, S, n)
    cols = np.clip(guide[ys.astype(int) % S, xs.astype(int) % S] + rng.integers(-45, 46, (n, 3)), 0, 255)
    for x, y, (r_, g, b) in zip(xs.tolist(), ys.tolist(), cols.astype(int).tolist()):
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(r_, g, b))
    return img


def _portrait(rng: Rng, S: int) -> Image.Image:
    """A lit oval face and shoulders on a dark ground, old-master style.

    Sitters vary in place, size, dress and setting (plain ground, a lit window or curtain,
    a distant landscape): otherwise every portrait shares one composition and the
    perceptual hash, which sees only coarse layout, would call them near duplicates.
    """
    ground = _jitter(rng, _pick(rng, [(60, 46, 32), (34, 40, 32), (28, 28, 38)]), 8)
    img = Image.new("RGB", (S, S), ground)
    draw = ImageDraw.Draw(img)
    setting = int(rng.integers(3))
    if setting == 1:  # a lit window or a red curtain on one side
        w = float(rng.uniform(0.15, 0.4)) * S
        x0 = 0.0 if rng.random() < 0.5 else S - w
        panel = _pick(rng, [(170, 160, 130), (120, 30, 30), (90, 110, 130)])
        draw.rectangle((x0, float(rng.uniform(0, 0.3)) * S, x0 + w, S), fill=_jitter(rng, panel, 15))
    elif setting == 2:  # a distant landscape behind the sitter
        hy = float(rng.uniform(0.45, 0.7)) * S
        draw.rectangle((0, 0, S, hy), fill=_jitter(rng, (150, 165, 150), 20))
        draw.rectangle((0, hy, S, S), fill=_jitter(rng, (85, 90, 60), 15))
    cx = S * float(rng.uniform(0.28, 0.72))
    fy = S * float(rng.uniform(0.25, 0.5))
    fw = S * float(rng.uniform(0.09, 0.2))
    fh = fw * float(rng.uniform(1.2, 1.5))
    cloth = _jitter(
        rng,
        _pick(rng, [(30, 30, 35), (120, 25, 30), (30, 55, 110), (60, 50, 30), (210, 205, 190)]),
        15,
    )
    shoulders = fw * float(rng.uniform(2.2, 3.6))
    draw.ellipse((cx - shoulders, fy + fh * 1.35, cx + shoulders, max(fy + fh * 4.5, S * 1.15)), fill=cloth)
    skin = _jitter(rng, _pick(rng, [(225, 190, 160), (200, 150, 115), (160, 110, 80), (235, 205, 185)]), 12)
    draw.rectangle(
        (cx - fw * 0.4, fy + fh * 0.6, cx + fw * 0.4, fy + fh * 1.5),
        fill=tuple(int(c * 0.85) for c in skin),
    )
    if rng.random() < 0.6:
        draw.polygon(
            [(cx - fw * 0.9, fy + fh * 1.4), (cx, fy + fh * 1.9), (cx + fw * 0.9, fy + fh * 1.4)],
            fill=_jitter(rng, (235, 230, 215), 10),
        )  # a white collar
    hair = _jitter(rng, _pick(rng, [(35, 25, 18), (90, 60, 30), (150, 120, 70), (60, 55, 50)]), 10)
    draw.ellipse((cx - fw * 1.12, fy - fh * 1.12, cx + fw * 1.12, fy + fh * 0.5), fill=hair)
    draw.ellipse((cx - fw, fy - fh, cx + fw, fy + fh), fill=skin)
    if rng.random() < 0.35:  # a broad dark hat
        brim = fw * float(rng.uniform(1.4, 2.2))
        hat = _jitter(rng, (25, 22, 20), 8)
        draw.ellipse((cx - brim, fy - fh * 0.95, cx + brim, fy - fh * 0.55), fill=hat)
        draw.ellipse((cx - fw * 0.95, fy - fh * 1.6, cx + fw * 0.95, fy - fh * 0.7), fill=hat)
    eye_y = fy - fh * 0.1
    for sgn in (-1, 1):
        ex = cx + sgn * fw * 0.4
        draw.ellipse(
            (ex - fw * 0.16, eye_y - fw * 0.07, ex + fw * 0.16, eye_y + fw * 0.07),
            fill=(245, 240, 230),
        )
        draw.ellipse(
            (ex - fw * 0.07, eye_y - fw * 0.07, ex + fw * 0.07, eye_y + fw * 0.07),
            fill=(40, 30, 25),
        )
        draw.arc(
            (ex - fw * 0.2, eye_y - fw * 0.25, ex + fw * 0.2, eye_y - fw * 0.05),
            200,
            340,
            fill=tuple(int(c * 0.5) for c in hair),
            width=max(2, S // 150),
        )
    shade = tuple(int(c * 0.75) for c in skin)
    draw.line(
        (cx, eye_y + fw * 0.1, cx - fw * 0.1, fy + fh * 0.3, cx + fw * 0.05, fy + fh * 0.35),
        fill=shade,
        width=max(2, S // 170),
    )
    draw.chord(
        (cx - fw * 0.3, fy + fh * 0.42, cx + fw * 0.3, fy + fh * 0.62),
        10,
        170,
        fill=_jitter(rng, (170, 70, 70), 15),
    )
    # Chiaroscuro: a vignette plus light from one side.  The shading is smooth, so it is
    # computed on a coarse grid and scaled up, then multiplied into the picture.
    x, y = _grid(S // 8)
    side = -1 if rng.random() < 0.5 else 1
    shading = np.clip(1.15 - 0.6 * np.hypot(x, y + 0.2), 0.3, 1.0) * (1.0 - 0.35 * np.clip(side * x, 0, 1))
    mask = Image.fromarray((shading * 255).astype(np.uint8), "L").resize((S, S), Image.BILINEAR)
    return ImageChops.multiply(img, Image.merge("RGB", (mask, mask, mask)))


def _cubist(rng: Rng, S: int) -> Image.Image:
    """Overlapping translucent facets in a muted palette, outlined in black."""
    palettes = [
        [(150, 120, 80), (190, 160, 110), (90, 80, 70), (120, 130, 120), (60, 55, 50)],
        [(110, 120, 140), (160, 150, 130), (80, 70, 60), (200, 180, 140), (50, 60, 70)],
        [(170, 100, 60), (200, 170, 120), (70, 90, 80), (140, 130, 110), (40, 40, 35)],
    ]
    palette = _pick(rng, palettes)
    img = Image.new("RGB", (S, S), _jitter(rng, palette[1], 10))
    draw = ImageDraw.Draw(img, "RGBA")
    cx, cy = rng.uniform(0.35, 0.65, 2) * S
    for _ in range(int(rng.integers(14, 26))):
        n = int(rng.integers(3, 6))
        ox, oy = cx + rng.normal(0, 0.22) * S, cy + rng.normal(0, 0.22) * S
        rad = float(rng.uniform(0.12, 0.32)) * S
        # Evenly spread corners (with jitter) give broad facets rather than needle-thin shards.
        angles = np.linspace(0, 2 * math.pi, n, endpoint=False) + rng.uniform(0, 2 * math.pi) + rng.normal(0, 0.25, n)
        radii = rad * rng.uniform(0.6, 1.0, n)
        pts = [(ox + r * math.cos(a), oy + r * math.sin(a)) for a, r in zip(angles, radii)]
        colour = _jitter(rng, _pick(rng, palette), 18)
        draw.polygon(pts, fill=colour + (int(rng.integers(140, 230)),))
        draw.line(pts + [pts[0]], fill=(20, 18, 15, 255), width=max(2, int(S * rng.uniform(0.004, 0.009))))
    return img


def _ink_wash(rng: Rng, S: int) -> Image.Image:
    """Sumi-e: misty grey mountain ridges and a dark brush branch on paper, a red seal."""
    # Washes are soft, so the ink density map is computed at half size and scaled up.
    n = S // 2
    grain = rng.normal(0, 0.015, (n // 4, n // 4)).astype(np.float32)
    density = np.asarray(Image.fromarray(grain).resize((n, n), Image.BICUBIC), np.float32)
    xs = np.linspace(0, 1, n, dtype=np.float32)
    rows = np.arange(n, dtype=np.float32)[:, None]
    n_ridges = int(rng.integers(2, 5))
    for k in range(n_ridges):
        depth = (k + 1) / n_ridges  # nearer ridges are lower and darker
        ridge = (
            n * (0.35 + 0.45 * depth)
            - n
            * 0.25
            * np.abs(
                sum(
                    rng.uniform(0.2, 1) * np.sin(2 * math.pi * (rng.uniform(0.5, 3) * xs + rng.random()))
                    for _ in range(3)
                )
            )
            / 2
        )
        ink = float(rng.uniform(0.25, 0.45) + 0.45 * depth)  # 0 = paper, 1 = black
        below = rows - ridge[None, :]
        alpha = np.where(below >= 0, ink * (1 - 0.6 * np.clip(below / (n * 0.25), 0, 1)), 0.0)
        density = density + (1 - density) * alpha
    density = np.asarray(Image.fromarray(density.astype(np.float32)).resize((S, S), Image.BICUBIC), np.float32)
    paper = np.array(_jitter(rng, (238, 232, 214), 6), np.float32)
    ink_rgb = np.array([30, 30, 32], np.float32)
    img = _to_image(paper + density[..., None] * (ink_rgb - paper))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(1, 4))):  # brush strokes: a branch with tapering width
        p = np.array([rng.choice([0.0, 1.0]) * S, rng.uniform(0.05, 0.5) * S])
        heading = math.atan2(S / 2 - p[1], S / 2 - p[0]) + rng.normal(0, 0.4)
        w = S * float(rng.uniform(0.012, 0.025))
        for _ in range(int(rng.integers(40, 80))):
            heading += rng.normal(0, 0.12)
            p = p + S * 0.008 * np.array([math.cos(heading), math.sin(heading)])
            w *= 0.985
            shade = int(rng.integers(10, 40))
            draw.ellipse((p[0] - w, p[1] - w, p[0] + w, p[1] + w), fill=(shade, shade, shade + 2))
    seal = S * float(rng.uniform(0.04, 0.06))
    sx = S * (0.88 if rng.random() < 0.5 else 0.08)
    sy = S * float(rng.uniform(0.08, 0.2))
    draw.rectangle((sx - seal, sy - seal, sx + seal, sy + seal), fill=_jitter(rng, (180, 30, 30), 15))
    return img


FAMILIES: dict[str, Callable[[Rng, int], Image.Image]] = {
    "mondrian": _mondrian,
    "stripes": _stripes,
    "seascape": _seascape,
    "starry_swirls": _starry_swirls,
    "pointillism": _pointillism,
    "portrait": _portrait,
    "cubist": _cubist,
    "ink_wash": _ink_wash,
}

#: ``(copy_family, copy_name, original_family, original_index, kind)``: an exact copy of a
#: Mondrian also filed under op-art stripes (one image, two labels), and a seascape resized
#: to 90 % and re-saved at JPEG quality 70 (a near duplicate).  Each copy sorts after its
#: original, so an ingest in path order keeps the original and links the copy.
DEMO_DUPLICATES: tuple[tuple[str, str, str, int, Literal["exact", "near"]], ...] = (
    ("stripes", "stripes_dup0000.jpg", "mondrian", 3, "exact"),
    ("seascape", "seascape_dup0001.jpg", "seascape", 5, "near"),
)


def paint(family: str, index: int, *, size: int = 256, seed: int = 0) -> Image.Image:
    """One image of a family, the same for the same ``(family, index, size, seed)``."""
    family_no = list(FAMILIES).index(family)
    rng = np.random.default_rng([seed, family_no, index])
    big = FAMILIES[family](rng, size * _SUPERSAMPLE)
    return big.reduce(_SUPERSAMPLE)  # box average: the anti-aliasing, 20x faster than LANCZOS


def _jpeg(img: Image.Image, quality: int = _JPEG_QUALITY) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _write_atomic(path: Path, data: bytes) -> None:
    # A dot-prefixed temporary name: readers skip hidden files, so an interrupted run
    # never leaves a half-written image that ingest would try to decode.
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def generate_demo_collection(
    out_dir: Path | str, *, per_family: int = 40, size: int = 256, seed: int = 0
) -> DemoSummary:
    """Write ``out_dir/<family>/<family>_NNNN.jpg`` for every family plus the duplicates.

    Re-running overwrites the generated files and removes images of ours that a previous
    run with a larger ``per_family`` left behind; other files in ``out_dir`` are not touched.
    """
    if per_family < 1:
        raise ValueError("per_family must be at least 1")
    if size < 32:
        raise ValueError("size must be at least 32 pixels")
    start = time.perf_counter()
    out_dir = Path(out_dir)
    counts: dict[str, int] = {}
    for family in FAMILIES:
        folder = out_dir / family
        folder.mkdir(parents=True, exist_ok=True)
        wanted = {f"{family}_{i:04d}.jpg" for i in range(per_family)}
        wanted |= {name for fam, name, *_ in DEMO_DUPLICATES if fam == family}
        for stale in folder.glob(f"{family}_*.jpg"):
            if stale.name not in wanted:
                stale.unlink()
        for i in range(per_family):
            rel = f"{family}/{family}_{i:04d}.jpg"
            _write_atomic(out_dir / rel, _jpeg(paint(family, i, size=size, seed=seed)))
        counts[family] = per_family

    duplicates = []
    for copy_family, copy_name, orig_family, orig_index, kind in DEMO_DUPLICATES:
        original = f"{orig_family}/{orig_family}_{orig_index % per_family:04d}.jpg"
        data = (out_dir / original).read_bytes()
        if kind == "near":
            img = Image.open(io.BytesIO(data))
            small = img.resize((round(size * 0.9), round(size * 0.9)), Image.LANCZOS)
            data = _jpeg(small, quality=70)
        rel = f"{copy_family}/{copy_name}"
        _write_atomic(out_dir / rel, data)
        counts[copy_family] += 1
        duplicates.append(DemoDuplicate(path=rel, original=original, kind=kind))

    return DemoSummary(
        out_dir=out_dir,
        families=tuple(FAMILIES),
        counts=counts,
        images=sum(counts.values()),
        duplicates=tuple(duplicates),
        seconds=time.perf_counter() - start,
    )
