"""The scene of a visitor's snap before the camera sees it: a painting, framed, hanging on a
museum wall among things that are not the painting, seen through a pinhole phone camera.

:func:`hang_painting` builds it as a float RGB picture at the render resolution and says
where the painting and its frame landed; :mod:`dataset_tools.camera_snap` then lights and
photographs it (:mod:`dataset_tools.photo_effects`).  Scene-level effects of harder snaps
(something in front of the painting, another visitor) belong here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .photo_effects import perspective_warp
from .snap_params import SnapParams

__all__ = ["Scene", "draw_visitor", "framed_canvas", "hang_painting", "wall"]


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
    if p.outside > 0:
        offset = offset + _beyond_edge(inner_p + offset, p)
    return _Geometry(inner=inner_p + offset, outer=outer_p + offset)


def _beyond_edge(inner: np.ndarray, p: SnapParams) -> np.ndarray:
    """The shift that puts ``p.outside`` of the painting beyond the photo's ``outside_side``."""
    out_w, out_h = p.out_size
    lo, hi = inner.min(0), inner.max(0)
    size = hi - lo
    shift = {
        "left": (-p.outside * size[0] - lo[0], 0.0),
        "right": (out_w + p.outside * size[0] - hi[0], 0.0),
        "top": (0.0, -p.outside * size[1] - lo[1]),
        "bottom": (0.0, out_h + p.outside * size[1] - hi[1]),
    }[p.outside_side]
    return np.asarray(shift)


def _area(quad: np.ndarray) -> float:
    x, y = quad[:, 0], quad[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _framed_canvas(
    paint: np.ndarray, p: SnapParams, outer_photo: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, int]:
    """The flat framed painting, at about the resolution it will have in the photo, its
    outer corners (pixel-edge convention, for the homography into the photo) and the width
    of frame and mat in its pixels."""
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
    return canvas, c_outer, b


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


@dataclass(frozen=True)
class Scene:
    """The lit-as-is wall (float32 RGB at the render resolution) and, in *output* pixels,
    where the painting's corners (``inner``) and the frame's (``outer``) landed."""

    picture: np.ndarray
    inner: np.ndarray
    outer: np.ndarray


def hang_painting(
    paint: np.ndarray, p: SnapParams, render_size: tuple[int, int], scale: float, rng: np.random.Generator
) -> Scene:
    """Frame ``paint`` (uint8 RGB), hang it on the wall with its drop shadow and the
    distractors, and view it from the phone: the scene at ``render_size`` = output size ×
    ``scale``."""
    iw, ih = render_size
    geo = _geometry(paint.shape[1] / paint.shape[0], p)
    outer_i = (geo.outer + 0.5) * scale - 0.5  # output → render pixels (pixel-centre convention)
    canvas, canvas_outer, _ = _framed_canvas(paint, p, outer_i, rng)
    warped, homography = perspective_warp(canvas, canvas_outer, outer_i, (iw, ih))

    photo = _wall(iw, ih, p, rng)
    _draw_distractors(photo, homography, canvas_outer, p, rng)
    mask = np.zeros((ih, iw), np.float32)
    cv2.fillConvexPoly(mask, np.round(outer_i * 16).astype(np.int32), 1.0, cv2.LINE_AA, shift=4)
    if p.shadow_strength > 0:
        # the frame's drop shadow on the wall: a shifted, blurred mask (at 1/4 size: it is soft)
        diag = math.hypot(iw, ih)
        qw, qh = max(2, iw // 4), max(2, ih // 4)
        small = cv2.resize(mask, (qw, qh), interpolation=cv2.INTER_AREA)
        shift = np.float32([[1, 0, p.shadow_offset[0] * diag / 4], [0, 1, p.shadow_offset[1] * diag / 4]])
        small = cv2.GaussianBlur(cv2.warpAffine(small, shift, (qw, qh)), (0, 0), max(0.5, 0.0015 * diag))
        small = 1.0 - p.shadow_strength * np.repeat(small[..., None], 3, 2)
        photo = cv2.multiply(photo, cv2.resize(small, (iw, ih), interpolation=cv2.INTER_LINEAR))
    picture = cv2.blendLinear(photo, warped, 1.0 - mask, mask)
    if p.visitor != "none":
        picture = draw_visitor(picture, (geo.inner + 0.5) * scale - 0.5, p, rng)
    return Scene(picture=picture, inner=geo.inner, outer=geo.outer)


def draw_visitor(picture: np.ndarray, painting: np.ndarray, p: SnapParams, rng: np.random.Generator) -> np.ndarray:
    """Another visitor between the phone and the painting (``painting``: its corners in
    ``picture``'s pixels): a head and shoulders rising from the photo's bottom edge, or one
    shoulder filling a bottom corner, hiding ``p.visitor_cover`` of the painting's height.
    Dark clothes and hair with a little texture; soft edges, as the person is close to the
    lens and out of focus."""
    h, w = picture.shape[:2]
    lo, hi = painting.min(0), painting.max(0)
    cx = lo[0] + p.visitor_x * (hi[0] - lo[0])
    top = hi[1] - p.visitor_cover * (hi[1] - lo[1])
    mask = np.zeros((h, w), np.float32)
    reach = max(8.0, min(h, hi[1]) - top + 0.3 * (h - min(h, hi[1])))  # from the top of the head to the photo's edge
    if p.visitor == "head":
        ry = 0.5 * min(reach, 0.45 * h)
        rx = 0.78 * ry
        cv2.ellipse(mask, (round(cx), round(top + ry)), (round(rx), round(ry)), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
        shoulders_top = top + 1.7 * ry
        cv2.ellipse(
            mask, (round(cx), round(shoulders_top + 2.2 * ry)), (round(3.2 * rx), round(2.2 * ry)), 0, 0, 360, 1.0, -1
        )
    else:
        side = -1 if p.visitor_x < 0.5 else 1
        radius = max(h - top, 8.0)
        centre = (round(cx + side * 0.6 * radius), round(h + 0.15 * radius))
        cv2.ellipse(mask, centre, (round(1.3 * radius), round(1.15 * radius)), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    soft = max(1.0, 0.006 * math.hypot(w, h))
    mask = cv2.GaussianBlur(mask, (0, 0), soft)[..., None]
    grain = rng.standard_normal((max(2, h // 24), max(2, w // 24))).astype(np.float32)
    texture = 1.0 + 0.15 * cv2.resize(grain, (w, h), interpolation=cv2.INTER_LINEAR)[..., None]
    person = texture * np.asarray(p.visitor_rgb, np.float32)
    out: np.ndarray = picture * (1.0 - mask) + person * mask
    return out


framed_canvas = _framed_canvas
"""For scenes of several paintings (:mod:`dataset_tools.wall_snap`)."""
wall = _wall
