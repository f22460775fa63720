"""Figurative families of the demo collection: a seascape, van Gogh-ish swirls, pointillist
dots, an old-master portrait and an ink wash.

Each paints a square of ``S`` pixels (the caller supersamples); :func:`canvas.square` adapts
them to other shapes.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageChops, ImageDraw

from .canvas import Rng, grid, jitter, pick, scatter_discs, to_image, vertical_gradient

__all__ = ["ink_wash", "pointillism", "portrait", "seascape", "starry_swirls"]


def seascape(rng: Rng, S: int) -> Image.Image:
    """Sky gradient, a low sun and its reflection, a darker sea combed by wave strokes."""
    skies = [
        ((40, 60, 140), (250, 170, 90)),
        ((90, 150, 220), (225, 235, 245)),
        ((60, 30, 90), (250, 120, 70)),
        ((120, 170, 210), (250, 220, 160)),
    ]
    top, low = pick(rng, skies)
    horizon = float(rng.uniform(0.42, 0.62))
    sea_top = jitter(rng, (40, 90, 130), 20)
    sea_bottom = jitter(rng, (10, 35, 60), 10)
    h = int(horizon * S)
    img = to_image(vertical_gradient(S, S, jitter(rng, top, 15), jitter(rng, low, 15), 0.0, horizon))
    draw = ImageDraw.Draw(img, "RGBA")
    sx = float(rng.uniform(0.2, 0.8)) * S
    sy = h - float(rng.uniform(0.05, 0.22)) * S
    sr = float(rng.uniform(0.04, 0.08)) * S
    sun = jitter(rng, (255, 210, 120), 20)
    for k in range(6, -1, -1):  # the glow, then the disc itself
        rr = sr * (1 + k * 0.5)
        draw.ellipse((sx - rr, sy - rr, sx + rr, sy + rr), fill=sun + ((18 if k else 255),))
    # The sea is pasted over the lower part, so the sun and its glow stop at the horizon.
    img.paste(to_image(vertical_gradient(S - h, S, sea_top, sea_bottom)), (0, h))
    draw = ImageDraw.Draw(img, "RGBA")
    for _ in range(int(rng.integers(140, 260))):
        t = float(rng.random()) ** 0.7
        wy = h + 4 + t * (S - h)
        wx = float(rng.uniform(-0.1, 1.1)) * S
        ww = (0.03 + 0.12 * t) * S
        light = jitter(rng, (200, 225, 235), 25)
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


def starry_swirls(rng: Rng, S: int) -> Image.Image:
    """Short thick strokes following a field of vortices under glowing stars and a moon."""
    arr = vertical_gradient(S, S, jitter(rng, (15, 30, 90), 12), jitter(rng, (40, 80, 150), 15))
    img = to_image(arr)
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


def pointillism(rng: Rng, S: int) -> Image.Image:
    """Thousands of small pure-colour dots sampling a soft landscape, on a pale ground."""
    small = 16
    sky = vertical_gradient(small, small, jitter(rng, (140, 190, 235), 25), jitter(rng, (235, 225, 190), 20))
    horizon = int(rng.integers(6, 10))
    greens = vertical_gradient(small, small, jitter(rng, (120, 170, 80), 30), jitter(rng, (60, 110, 50), 20))
    field = sky.copy()
    field[horizon:] = greens[: small - horizon]
    for _ in range(int(rng.integers(2, 5))):  # trees / figures as colour blobs
        bx, by = int(rng.integers(0, small)), int(rng.integers(horizon - 4, small))
        blob = np.array(
            jitter(rng, pick(rng, [(40, 90, 40), (200, 80, 60), (60, 60, 150), (230, 200, 80)]), 20),
            np.float32,
        )
        field[max(0, by - 2) : by + 2, max(0, bx - 1) : bx + 2] = blob
    guide = np.asarray(Image.fromarray(field.astype(np.uint8)).resize((S, S), Image.BICUBIC), np.float32)
    img = Image.new("RGB", (S, S), jitter(rng, (245, 240, 228), 6))
    draw = ImageDraw.Draw(img)
    r = S * float(rng.uniform(0.006, 0.01))
    n = int(rng.integers(4500, 6500))
    xs, ys = rng.uniform(0, S, n), rng.uniform(0, S, n)
    cols = np.clip(guide[ys.astype(int) % S, xs.astype(int) % S] + rng.integers(-45, 46, (n, 3)), 0, 255)
    scatter_discs(draw, xs, ys, r, cols)
    return img


def portrait(rng: Rng, S: int) -> Image.Image:
    """A lit oval face and shoulders on a dark ground, old-master style.

    Sitters vary in place, size, dress and setting (plain ground, a lit window or curtain,
    a distant landscape): otherwise every portrait shares one composition and the
    perceptual hash, which sees only coarse layout, would call them near duplicates.
    """
    ground = jitter(rng, pick(rng, [(60, 46, 32), (34, 40, 32), (28, 28, 38)]), 8)
    img = Image.new("RGB", (S, S), ground)
    draw = ImageDraw.Draw(img)
    setting = int(rng.integers(3))
    if setting == 1:  # a lit window or a red curtain on one side
        w = float(rng.uniform(0.15, 0.4)) * S
        x0 = 0.0 if rng.random() < 0.5 else S - w
        panel = pick(rng, [(170, 160, 130), (120, 30, 30), (90, 110, 130)])
        draw.rectangle((x0, float(rng.uniform(0, 0.3)) * S, x0 + w, S), fill=jitter(rng, panel, 15))
    elif setting == 2:  # a distant landscape behind the sitter
        hy = float(rng.uniform(0.45, 0.7)) * S
        draw.rectangle((0, 0, S, hy), fill=jitter(rng, (150, 165, 150), 20))
        draw.rectangle((0, hy, S, S), fill=jitter(rng, (85, 90, 60), 15))
    cx = S * float(rng.uniform(0.28, 0.72))
    fy = S * float(rng.uniform(0.25, 0.5))
    fw = S * float(rng.uniform(0.09, 0.2))
    fh = fw * float(rng.uniform(1.2, 1.5))
    cloth = jitter(
        rng,
        pick(rng, [(30, 30, 35), (120, 25, 30), (30, 55, 110), (60, 50, 30), (210, 205, 190)]),
        15,
    )
    shoulders = fw * float(rng.uniform(2.2, 3.6))
    draw.ellipse((cx - shoulders, fy + fh * 1.35, cx + shoulders, max(fy + fh * 4.5, S * 1.15)), fill=cloth)
    skin = jitter(rng, pick(rng, [(225, 190, 160), (200, 150, 115), (160, 110, 80), (235, 205, 185)]), 12)
    draw.rectangle(
        (cx - fw * 0.4, fy + fh * 0.6, cx + fw * 0.4, fy + fh * 1.5),
        fill=tuple(int(c * 0.85) for c in skin),
    )
    if rng.random() < 0.6:
        draw.polygon(
            [(cx - fw * 0.9, fy + fh * 1.4), (cx, fy + fh * 1.9), (cx + fw * 0.9, fy + fh * 1.4)],
            fill=jitter(rng, (235, 230, 215), 10),
        )  # a white collar
    hair = jitter(rng, pick(rng, [(35, 25, 18), (90, 60, 30), (150, 120, 70), (60, 55, 50)]), 10)
    draw.ellipse((cx - fw * 1.12, fy - fh * 1.12, cx + fw * 1.12, fy + fh * 0.5), fill=hair)
    draw.ellipse((cx - fw, fy - fh, cx + fw, fy + fh), fill=skin)
    if rng.random() < 0.35:  # a broad dark hat
        brim = fw * float(rng.uniform(1.4, 2.2))
        hat = jitter(rng, (25, 22, 20), 8)
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
        fill=jitter(rng, (170, 70, 70), 15),
    )
    # Chiaroscuro: a vignette plus light from one side.  The shading is smooth, so it is
    # computed on a coarse grid and scaled up, then multiplied into the picture.
    x, y = grid(S // 8)
    side = -1 if rng.random() < 0.5 else 1
    shading = np.clip(1.15 - 0.6 * np.hypot(x, y + 0.2), 0.3, 1.0) * (1.0 - 0.35 * np.clip(side * x, 0, 1))
    mask = Image.fromarray((shading * 255).astype(np.uint8), "L").resize((S, S), Image.BILINEAR)
    return ImageChops.multiply(img, Image.merge("RGB", (mask, mask, mask)))


def ink_wash(rng: Rng, S: int) -> Image.Image:
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
    paper = np.array(jitter(rng, (238, 232, 214), 6), np.float32)
    ink_rgb = np.array([30, 30, 32], np.float32)
    img = to_image(paper + density[..., None] * (ink_rgb - paper))
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
    draw.rectangle((sx - seal, sy - seal, sx + seal, sy + seal), fill=jitter(rng, (180, 30, 30), 15))
    return img
