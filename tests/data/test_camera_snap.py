"""Simulated phone snaps: reproducible, with ground truth that really marks the painting."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
from PIL import Image

from backend.engine.artwork import ArtworkRegion, rectify
from dataset_tools.camera_snap import DIFFICULTIES, draw_params, render_snap, simulate_snap, trim_letterbox


def painting(seed: int = 0, size: tuple[int, int] = (240, 180)) -> Image.Image:
    """Four coloured quadrants and a diagonal: any flip, rotation or offset shows."""
    w, h = size
    a = np.zeros((h, w, 3), np.uint8)
    a[: h // 2, : w // 2] = (220, 40, 40)
    a[: h // 2, w // 2 :] = (40, 200, 60)
    a[h // 2 :, : w // 2] = (40, 60, 210)
    a[h // 2 :, w // 2 :] = (230, 210, 60)
    yy, xx = np.mgrid[0:h, 0:w]
    a[np.abs(yy / h - xx / w) < 0.03] = (250, 250, 250)
    a = a.astype(np.int16) + np.random.default_rng(seed).integers(-10, 10, (h, w, 1))
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def polygon_area(q: np.ndarray) -> float:
    x, y = q[:, 0], q[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def test_same_seed_same_snap_other_seed_other_snap() -> None:
    a = simulate_snap(painting(), np.random.default_rng(42))
    b = simulate_snap(painting(), np.random.default_rng(42))
    c = simulate_snap(painting(), np.random.default_rng(43))
    assert a.jpeg == b.jpeg and np.array_equal(a.corners, b.corners) and a.params == b.params
    assert a.jpeg != c.jpeg and a.params != c.params


def test_params_alone_reproduce_the_snap() -> None:
    snap = simulate_snap(painting(), np.random.default_rng(7), difficulty="hard")
    again = render_snap(painting(), snap.params)
    assert again.jpeg == snap.jpeg and np.array_equal(again.corners, snap.corners)


@pytest.mark.parametrize("difficulty", [d for d in DIFFICULTIES if d not in ("cut_off", "hardest")])
def test_corners_lie_inside_the_photo_and_cover_a_plausible_share(difficulty: str) -> None:
    """(A cut-off painting runs past the edge on purpose: tests/data/test_snap_challenges.py.)"""
    rng = np.random.default_rng(1)
    for k in range(8):
        snap = simulate_snap(
            painting(k, (int(rng.integers(120, 320)), int(rng.integers(120, 320)))), rng, difficulty=difficulty
        )
        w, h = snap.photo.size
        assert (w, h) == (1024, 768) and snap.photo.mode == "RGB"
        for quad in (snap.corners, snap.frame_corners):
            assert quad.shape == (4, 2)
            assert (quad[:, 0] >= 0).all() and (quad[:, 0] <= w - 1).all()
            assert (quad[:, 1] >= 0).all() and (quad[:, 1] <= h - 1).all()
        share = polygon_area(snap.corners) / (w * h)
        assert (0.05 if difficulty == "steep" else 0.1) <= share <= 0.85, share  # 60 degrees off-axis is thin
        assert polygon_area(snap.frame_corners) >= polygon_area(snap.corners)
        tl, tr, br, bl = snap.corners  # TL, TR, BR, BL of the painting itself
        assert tl[0] < tr[0] and bl[0] < br[0] and tl[1] < bl[1] and tr[1] < br[1]


def test_corners_mark_the_painting() -> None:
    """Warping the photo at the ground-truth corners gives the painting back, upright."""
    src = painting(3)
    reference = np.asarray(src.convert("L").resize((48, 36)), np.float64).ravel()
    for seed in range(4):
        snap = simulate_snap(src, np.random.default_rng(seed), difficulty="easy")
        cut = rectify(snap.photo, ArtworkRegion(corners=snap.corners, confidence=1.0, found=True), out_size=(48, 36))
        got = np.asarray(cut.convert("L"), np.float64).ravel()
        assert np.corrcoef(got, reference)[0, 1] > 0.9
        flipped = np.asarray(cut.transpose(Image.Transpose.ROTATE_180).convert("L"), np.float64).ravel()
        assert np.corrcoef(flipped, reference)[0, 1] < 0.5


def test_12_megapixel_snap() -> None:
    snap = simulate_snap(painting(), np.random.default_rng(5), out_size=(4032, 3024))
    assert snap.photo.size == (4032, 3024)
    assert Image.open(io.BytesIO(snap.jpeg)).size == (4032, 3024)
    assert (snap.corners[:, 0] <= 4031).all() and (snap.corners[:, 1] <= 3023).all()
    # the same scene at 1024x768 puts the painting at the same relative place
    small = render_snap(painting(), dataclasses.replace(snap.params, out_size=(1024, 768)))
    assert np.abs(snap.corners / 4032 - small.corners / 1024).max() < 0.002


def test_letterbox_bars_are_not_hung_on_the_wall() -> None:
    scan = Image.new("RGB", (224, 224), (0, 0, 0))
    scan.paste(painting(0, (224, 150)), (0, 37))
    assert trim_letterbox(scan) == (0, 37, 224, 187)
    assert trim_letterbox(painting()) == (0, 0, 240, 180)
    assert simulate_snap(scan, np.random.default_rng(0)).painting_box == (0, 37, 224, 187)
    assert simulate_snap(scan, np.random.default_rng(0), trim_borders=False).painting_box == (0, 0, 224, 224)


def test_unknown_difficulty_is_refused() -> None:
    with pytest.raises(ValueError):
        draw_params(np.random.default_rng(0), difficulty="brutal")


def test_params_explain_the_photo() -> None:
    params = draw_params(np.random.default_rng(3), difficulty="default")
    assert 60 <= params.jpeg_quality <= 92
    assert abs(params.roll_deg) <= 8 and abs(params.yaw_deg) <= 25
    assert 0.25 <= params.area_frac <= 0.8
