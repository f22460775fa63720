"""Which outlines verification accepts as an artwork seen in a photo: every view the camera
simulator takes of a painting (up to its steepest), and none of the shapes a chance
homography draws (mirrored, twisted, tiny, a far side collapsed to a sliver)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from backend.engine.recognition.verification import outline_is_plausible
from dataset_tools.camera_snap import DIFFICULTIES, simulate_snap

PHOTO = (640, 480)
FRONT = np.asarray([[120, 80], [520, 80], [520, 400], [120, 400]], np.float32)


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_the_simulators_views_of_a_painting_are_plausible(difficulty: str) -> None:
    painting = Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 400, 3), np.uint8))
    for k in range(12):
        snap = simulate_snap(painting, np.random.default_rng([7, k]), out_size=PHOTO, difficulty=difficulty)
        assert outline_is_plausible(snap.corners, PHOTO), (difficulty, k, snap.corners)


@pytest.mark.parametrize(
    "name, outline",
    [
        ("mirrored", FRONT[[1, 0, 3, 2]]),
        ("twisted (a bow tie)", FRONT[[0, 1, 3, 2]]),
        ("a detail matched by chance", FRONT * 0.03),
        ("far side collapsed", np.asarray([[120, 80], [520, 230], [520, 250], [120, 400]], np.float32)),
        ("a needle corner", np.asarray([[120, 80], [520, 80], [140, 120], [120, 400]], np.float32)),
        ("not a number", np.where(np.arange(8).reshape(4, 2) == 3, np.nan, FRONT)),
        ("vastly larger than the photo", FRONT * 40),
        # convex, big enough, opposite sides equal: only its 23-degree corners give it away
        ("sheared flat", np.asarray([[100, 100], [400, 100], [640, 200], [340, 200]], np.float32)),
    ],
)
def test_shapes_no_camera_sees_a_rectangle_as_are_not(name: str, outline: np.ndarray) -> None:
    assert not outline_is_plausible(outline, PHOTO), name


def test_a_rectangle_seen_at_an_angle_is() -> None:
    near, far = 360, 150  # the far side shorter, as from a visitor to the right
    outline = np.asarray([[100, 240 - near / 2], [420, 240 - far / 2], [420, 240 + far / 2], [100, 240 + near / 2]])
    assert outline_is_plausible(outline, PHOTO)
