"""The harder camera simulator: each challenge level changes the snap the way its name says,
on the very snap ``default`` draws from the same seed, and a wall shows several paintings
whose true corners come back."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
from PIL import Image

from dataset_tools.camera_snap import CHALLENGES, draw_params, render_snap, simulate_snap
from dataset_tools.wall_snap import simulate_wall

from .test_camera_snap import painting, polygon_area


def _mask(quad: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    m = np.zeros((size[1], size[0]), np.uint8)
    cv2.fillConvexPoly(m, np.round(quad).astype(np.int32), 1)
    return m.astype(bool)


def _pair(difficulty: str, seed: int = 3):
    """The default snap and the challenge's snap drawn from the same seed."""
    plain = simulate_snap(painting(), np.random.default_rng(seed))
    hard = simulate_snap(painting(), np.random.default_rng(seed), difficulty=difficulty)
    return plain, hard


@pytest.mark.parametrize("difficulty", CHALLENGES)
def test_a_challenge_adds_one_thing_to_the_default_snap(difficulty: str) -> None:
    plain = draw_params(np.random.default_rng(8))
    hard = draw_params(np.random.default_rng(8), difficulty=difficulty)
    changed = {f.name for f in dataclasses.fields(plain) if getattr(plain, f.name) != getattr(hard, f.name)}
    allowed = {
        "steep": {"yaw_deg", "pitch_deg"},
        "occluded": {"visitor", "visitor_x", "visitor_cover", "visitor_rgb"},
        "cut_off": {"outside", "outside_side", "area_frac"},
        "glass": {"reflection", "reflection_angle_deg", "reflection_offset", "glare_strength"},
        "low_light": {"exposure", "noise_sigma"},
    }[difficulty]
    assert "difficulty" in changed and changed - {"difficulty"} <= allowed and changed & allowed


def test_a_visitor_hides_the_bottom_of_the_painting_and_nothing_above() -> None:
    plain, hard = _pair("occluded")
    assert hard.params.visitor in ("head", "shoulder") and np.array_equal(plain.corners, hard.corners)
    diff = np.abs(np.asarray(plain.photo, np.int16) - np.asarray(hard.photo, np.int16)).max(2) > 40
    inside = _mask(hard.corners, hard.photo.size)
    hidden = (diff & inside).sum() / inside.sum()
    assert 0.05 < hidden < 0.6, hidden
    top = hard.corners[:, 1].min() + 0.3 * np.ptp(hard.corners[:, 1])
    ys = np.nonzero(diff & inside)[0]
    assert np.percentile(ys, 5) > top  # a person stands below the painting's upper part


def test_a_cut_off_painting_runs_past_the_photos_edge() -> None:
    for seed in range(3):
        snap = simulate_snap(painting(), np.random.default_rng(seed), difficulty="cut_off")
        w, h = snap.photo.size
        c = snap.corners
        outside = (c[:, 0] < 0) | (c[:, 0] > w - 1) | (c[:, 1] < 0) | (c[:, 1] > h - 1)
        assert 1 <= outside.sum() <= 2, c  # one side of the painting is beyond the edge
        seen = _mask(c, (w, h)).sum() / polygon_area(c)
        assert 0.55 < seen < 0.9, seen


def test_low_light_is_darker_and_noisier() -> None:
    plain, dark = _pair("low_light")
    a, b = np.asarray(plain.photo, np.float32), np.asarray(dark.photo, np.float32)
    assert b.mean() < 0.6 * a.mean()
    wall = ~_mask(plain.frame_corners, plain.photo.size)  # flat plaster: its spread is the noise
    assert (b - cv2.GaussianBlur(b, (0, 0), 3))[wall].std() > (a - cv2.GaussianBlur(a, (0, 0), 3))[wall].std()


def test_a_reflection_brightens_the_glass_only() -> None:
    p = draw_params(np.random.default_rng(4), difficulty="glass")
    no_glass = dataclasses.replace(p, reflection=0.0)
    a = np.asarray(render_snap(painting(), no_glass).photo, np.float32)
    snap = render_snap(painting(), p)
    b = np.asarray(snap.photo, np.float32)
    brighter = (b - a).mean(2) > 25
    inside = _mask(snap.corners, snap.photo.size)
    assert brighter[inside].mean() > 0.1
    grown = cv2.dilate(inside.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    assert brighter[~grown].mean() < 0.001


def test_steep_views_are_strongly_oblique_and_hardest_has_a_challenge() -> None:
    for seed in range(5):
        assert abs(draw_params(np.random.default_rng(seed), difficulty="steep").yaw_deg) >= 40
        p = draw_params(np.random.default_rng(seed), difficulty="hardest")
        assert p.visitor != "none" or p.outside > 0 or p.reflection > 0 or p.exposure <= 0.5 or abs(p.yaw_deg) >= 40


def test_a_wall_snap_shows_every_painting_where_its_corners_say() -> None:
    colours = [(220, 40, 40), (40, 60, 210), (40, 200, 60)]
    pictures = [Image.new("RGB", (200, 150), c) for c in colours]
    snap = simulate_wall(pictures, np.random.default_rng(5))
    photo = np.asarray(snap.photo, np.float32)
    assert len(snap.corners) == 3
    centres = [c.mean(0) for c in snap.corners]
    assert [round(float(x)) for x, _ in centres] == sorted(round(float(x)) for x, _ in centres)  # left to right
    for corners, colour in zip(snap.corners, colours):
        w, h = snap.photo.size
        assert corners[:, 0].min() > 0 and corners[:, 0].max() < w - 1 and corners[:, 1].min() > 0
        inner = _mask(corners.mean(0) + 0.8 * (corners - corners.mean(0)), (w, h))
        seen = photo[inner].mean(0)
        assert int(np.argmax(seen)) == int(np.argmax(colour)), (seen, colour)  # that painting, not the wall
