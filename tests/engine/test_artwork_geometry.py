"""The artwork locator's building blocks: corner order, side and line intersections, line quads."""

from __future__ import annotations

from itertools import permutations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from backend.engine.artwork.candidates import line_quads
from backend.engine.artwork.geometry import intersect_sides, order_corners
from backend.engine.artwork.lines import line_crossings
from backend.engine.artwork.view import View, work_image

# A painting seen off-axis and slightly rolled: TL, TR, BR, BL on screen.
QUAD = np.asarray([[52.0, 40.0], [300.0, 58.0], [286.0, 230.0], [61.0, 212.0]], dtype=np.float32)


def test_order_corners_gives_tl_tr_br_bl_whatever_the_input_order() -> None:
    for perm in permutations(range(4)):
        assert np.array_equal(order_corners(QUAD[list(perm)]), QUAD), perm


def test_order_corners_of_a_strongly_rolled_quad_starts_nearest_the_top_left() -> None:
    # rolled ~40 degrees: the top-most corner is not the top-left one
    quad = np.asarray([[100, 20], [200, 100], [120, 200], [20, 120]], dtype=np.float32)
    ordered = order_corners(quad[::-1])
    assert ordered[0].tolist() == [100, 20]  # the smallest x + y
    # clockwise on screen (y down): positive cross product of consecutive sides
    d = np.roll(ordered, -1, 0) - ordered
    assert (d[:, 0] * np.roll(d, -1, 0)[:, 1] - d[:, 1] * np.roll(d, -1, 0)[:, 0] > 0).all()


def side_lines(quad: np.ndarray, slide: float = 0.3) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each side as (a point part-way along it, its unit direction)."""
    lines = []
    for i in range(4):
        a, b = quad[i].astype(np.float64), quad[(i + 1) % 4].astype(np.float64)
        lines.append((a + slide * (b - a), (b - a) / np.linalg.norm(b - a)))
    return lines


def test_intersect_sides_recovers_the_corners_from_the_side_lines() -> None:
    far_off = QUAD + 20.0  # the fallback is not what comes back
    out = intersect_sides(side_lines(QUAD), fallback=far_off)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, QUAD, atol=1e-3)


def test_intersect_sides_keeps_the_fallback_when_neighbouring_sides_are_parallel() -> None:
    lines = side_lines(QUAD)
    lines[1] = (lines[1][0], lines[0][1])  # the right side now runs parallel to the top one
    assert intersect_sides(lines, fallback=QUAD) is QUAD


def tilt_bottom(quad: np.ndarray, dy: float) -> list[tuple[np.ndarray, np.ndarray]]:
    lines = side_lines(quad)
    p, d = lines[2]
    lines[2] = (p, d + np.array([0.0, dy]))
    return lines


def test_intersect_sides_follows_a_slightly_tilted_side() -> None:
    out = intersect_sides(tilt_bottom(QUAD, 0.05), fallback=QUAD)
    assert out is not QUAD
    assert 2.0 < np.abs(out - QUAD).max() < 20.0


def test_intersect_sides_keeps_the_fallback_when_a_corner_would_jump_far() -> None:
    # the bottom side tilted by ~40 degrees: its far corner would move ~120 px
    assert intersect_sides(tilt_bottom(QUAD, 0.8), fallback=QUAD) is QUAD


def test_line_crossings_of_hough_lines() -> None:
    # x cos(phi) + y sin(phi) = rho. Horizontal: y = 50 and a slightly tilted line;
    # vertical: x = 30 and the diagonal x + y = 100.
    horizontal = np.array([[np.pi / 2, 50.0], [np.pi / 2 - 0.1, 80.0]])
    vertical = np.array([[0.0, 30.0], [np.pi / 4, 100 / np.sqrt(2)]])
    xs, ys = line_crossings(horizontal, vertical)
    assert xs.shape == ys.shape == (2, 2)
    for i, (phi_h, rho_h) in enumerate(horizontal):
        for j, (phi_v, rho_v) in enumerate(vertical):
            x, y = xs[i, j], ys[i, j]  # on both lines
            assert x * np.cos(phi_h) + y * np.sin(phi_h) == pytest.approx(rho_h)
            assert x * np.cos(phi_v) + y * np.sin(phi_v) == pytest.approx(rho_v)
    assert (xs[0, 0], ys[0, 0]) == pytest.approx((30.0, 50.0))
    assert (xs[0, 1], ys[0, 1]) == pytest.approx((50.0, 50.0))


def test_line_quads_find_a_dark_frame_on_a_plain_wall() -> None:
    """The painting's four sides win over larger quads with other straight edges of the room,
    even where one side barely shows against the wall."""
    img = Image.new("RGB", (384, 288), (200, 196, 186))
    draw = ImageDraw.Draw(img)
    corners = [(90, 60), (300, 70), (292, 230), (96, 222)]
    draw.polygon(corners, fill=(60, 70, 120))
    # a shadow on the wall by the upper half of the left side, nearly the painting's colour
    draw.rectangle((40, 40, 93, 140), fill=(66, 74, 118))
    # straight edges that make larger, worse supported quads with the painting's sides
    draw.line((0, 262, 383, 262), fill=(150, 120, 90), width=3)  # a dado rail
    draw.line((352, 0, 352, 287), fill=(120, 110, 100), width=3)  # a door frame
    draw.line((20, 30, 364, 30), fill=(170, 166, 160), width=2)  # a picture rail
    quads = line_quads(View.of(work_image(img, 384)))
    assert quads, "no line quad found"
    truth = np.asarray(corners, np.float32)
    best = min(float(np.abs(q - truth).max()) for q in quads)
    assert best < 3.0, [q.round(1).tolist() for q in quads]
