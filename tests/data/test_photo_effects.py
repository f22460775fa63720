"""The phone-camera effects shared by the snap simulator and training augmentation: each does
to a picture what its name says, by the amount asked for, and nothing elsewhere."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from dataset_tools import photo_effects as fx

GREY = np.full((240, 320, 3), 100.0, np.float32)


def stripes(vertical: bool, period: int = 8) -> np.ndarray:
    """Black and white stripes; ``vertical`` stripes alternate along x."""
    axis = np.arange(320 if vertical else 240) // (period // 2) % 2 * 200.0 + 20
    arr = np.broadcast_to(axis[None, :] if vertical else axis[:, None], (240, 320))
    return np.repeat(arr[..., None], 3, 2).astype(np.float32)


def test_glare_brightens_a_spot_by_the_strength_asked_and_nothing_far_away() -> None:
    out = fx.glare(GREY, (80, 60), radius=20, strength=0.4)
    gain = out.mean(2) - 100.0
    assert gain[60, 80] == pytest.approx(0.4 * 255, rel=0.05)  # the peak
    assert gain[60, 80 + 20] == pytest.approx(0.4 * 255 * np.exp(-0.5), rel=0.1)  # one radius out
    assert np.abs(gain[200:, 250:]).max() < 0.5  # the far corner is untouched
    assert np.array_equal(fx.glare(GREY, (80, 60), radius=20, strength=0.0), GREY)


def test_warm_light_shifts_red_up_and_blue_down() -> None:
    warm = fx.lighting(GREY, wb_gains=fx.warmth_gains(0.1)).mean((0, 1))
    cool = fx.lighting(GREY, wb_gains=fx.warmth_gains(-0.1)).mean((0, 1))
    assert warm == pytest.approx([110, 100, 90], abs=0.01)
    assert cool[0] < cool[1] < cool[2]


def test_vignette_darkens_corners_and_gradient_follows_its_angle() -> None:
    vig = fx.lighting(GREY, vignette=0.3).mean(2)
    assert vig[120, 160] == pytest.approx(100, abs=0.5)
    assert vig[2, 2] == pytest.approx(70, abs=3)  # corners lose the fraction asked for
    lit = fx.lighting(GREY, exposure=1.2, gradient=0.2, gradient_angle_deg=0).mean(2)
    assert lit[120, 160] == pytest.approx(120, abs=0.5)
    assert lit[120, 300] > lit[120, 160] > lit[120, 20]  # brighter towards 0° (the right)
    assert abs(lit[20, 160] - lit[220, 160]) < 0.5  # and not up or down


def test_defocus_removes_fine_detail_and_below_a_third_of_a_pixel_does_nothing() -> None:
    sharp = stripes(vertical=True, period=4)
    assert fx.defocus_blur(sharp, 0.2) is sharp
    assert fx.defocus_blur(sharp, 1.5).std() < 0.2 * sharp.std()
    # strong blurs run at half size: the result still matches a full-size Gaussian
    scene = cv2.GaussianBlur(stripes(vertical=True, period=40), (0, 0), 2)
    half_size = fx.defocus_blur(scene, 6.0)
    full_size = cv2.GaussianBlur(scene, (0, 0), 6.0)
    assert half_size.shape == scene.shape
    assert np.abs(half_size - full_size)[20:-20, 20:-20].mean() < 2.0


def test_motion_blur_smears_along_its_direction_only() -> None:
    across = fx.motion_blur(stripes(vertical=True, period=8), 12, angle_deg=0)  # shake along x
    along = fx.motion_blur(stripes(vertical=False, period=16), 12, angle_deg=0)
    assert across.std() < 0.3 * stripes(vertical=True, period=8).std()
    assert along[20:-20].std() > 0.9 * stripes(vertical=False, period=16).std()  # horizontal stripes stay
    with pytest.raises(ValueError):
        fx.blur(GREY, "swirl", 3)


def test_sensor_noise_has_the_sigma_asked_for_and_is_reproducible() -> None:
    img = np.full((200, 300, 3), 128, np.uint8)
    noisy = fx.sensor_noise(img, 5.0, np.random.default_rng(0)).astype(np.float32) - 128
    assert noisy.std() == pytest.approx(5.0, rel=0.1) and abs(noisy.mean()) < 0.6
    again = fx.sensor_noise(img, 5.0, np.random.default_rng(0))
    assert np.array_equal(again.astype(np.float32) - 128, noisy)
    tiled = fx.sensor_noise(img, 5.0, np.random.default_rng(1), tile=64)
    assert np.array_equal(tiled[:64, :64], tiled[64:128, 128:192])  # one tile, repeated
    assert fx.sensor_noise(img, 0.0, np.random.default_rng(0)) is img


def _ijg_luminance_table(quality: int) -> list[int]:
    """The JPEG standard's luminance table (Annex K) scaled as libjpeg does for ``quality``."""
    base = [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56]
    base += [14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92]
    base += [49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99]
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return [min(255, max(1, (b * scale + 50) // 100)) for b in base]


@pytest.mark.parametrize("quality", [35, 70, 92])
def test_jpeg_round_trip_is_a_real_jpeg_at_the_quality_asked(quality: int) -> None:
    img = np.asarray(Image.open(io.BytesIO(_noise_png())).convert("RGB"))
    photo = fx.jpeg_round_trip(img, quality)
    stored = Image.open(io.BytesIO(photo.data))
    assert stored.format == "JPEG" and stored.size == (96, 64)
    assert list(stored.quantization[0]) == _ijg_luminance_table(quality)
    assert photo.image.mode == "RGB" and np.array_equal(np.asarray(photo.image), np.asarray(stored.convert("RGB")))
    error = np.abs(np.asarray(photo.image, np.float32) - img).mean()
    assert 0 < error < 40  # re-encoded, artefacts and all, but still the picture
    with pytest.raises(ValueError):
        fx.jpeg_round_trip(img, 0)


def _noise_png() -> bytes:
    rng = np.random.default_rng(2)
    smooth = cv2.resize(rng.uniform(0, 255, (8, 12, 3)).astype(np.float32), (96, 64), interpolation=cv2.INTER_CUBIC)
    buf = io.BytesIO()
    Image.fromarray(np.clip(smooth + rng.normal(0, 10, smooth.shape), 0, 255).astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def test_perspective_warp_puts_the_corners_where_asked_and_fills_the_rest() -> None:
    src = np.zeros((50, 80, 3), np.uint8)
    src[:25, :40] = (255, 0, 0)  # a red top-left quarter
    src_quad = np.array([[0, 0], [79, 0], [79, 49], [0, 49]], np.float32)
    dst_quad = np.array([[130, 20], [180, 40], [170, 110], [120, 100]], np.float32)  # a tilted quad
    warped, homography = fx.perspective_warp(src, src_quad, dst_quad, (200, 150), fill=(0, 90, 0))
    assert warped.shape == (150, 200, 3)
    mapped = cv2.perspectiveTransform(src_quad[None], homography)[0]
    assert np.abs(mapped - dst_quad).max() < 1e-3
    assert tuple(warped[140, 10]) == (0, 90, 0)  # outside: the fill
    near_tl = (dst_quad[0] * 0.8 + dst_quad[2] * 0.2).round().astype(int)  # inside, towards TL
    near_br = (dst_quad[0] * 0.2 + dst_quad[2] * 0.8).round().astype(int)
    assert tuple(warped[near_tl[1], near_tl[0]]) == (255, 0, 0) and tuple(warped[near_br[1], near_br[0]]) == (0, 0, 0)
