"""Parity from camera-sized photos, shrunk the way each platform shrinks them.

The stored parity images are 224 px already; a phone starts from 12 MP. The export makes
4032x3024 snaps of the parity paintings and reports, per resize path (Vision's centre crop,
Android's bitmap scaling with and without antialiasing, MediaPipe's region of interest and
its whole-frame default), how often each file gives the server's label on them.
"""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from edge_models.preprocessing import DEFAULT_SPEC
from edge_models.resize_paths import CAMERA_SIZE, RESIZE_PATHS, camera_photos, shrink


def _stripes(size=CAMERA_SIZE) -> Image.Image:
    """A 12 MP photo of fine detail: one-pixel black and white stripes (a canvas weave, a
    print's halftone), on which a resize without antialiasing picks arbitrary pixels."""
    w, h = size
    row = (np.arange(w) % 2 * 255).astype(np.uint8)
    return Image.fromarray(np.repeat(np.repeat(row[None, :, None], h, 0), 3, 2))


def test_paths_shrink_a_12mp_photo_as_each_platform_does():
    photo = _stripes()
    out = {name: shrink(photo, name, DEFAULT_SPEC) for name in RESIZE_PATHS}
    for name, pixels in out.items():
        assert pixels.shape == (224, 224, 3) and pixels.dtype == np.uint8, name
    # antialiased paths average the stripes to grey; bilinear sampling of 2x2 pixels does not
    # (area averaging over 13.5 pixels leaves a faint ripple: the boxes hold 13 or 14 stripes)
    for name in ("server", "ios_vision_centercrop", "android_antialiased"):
        assert abs(float(out[name].mean()) - 127.5) < 3 and out[name].std() < 10, name
    for name in ("android_bitmap_bilinear", "mediapipe_roi_centre"):
        assert out[name].std() > 40, name  # aliasing: the stripes come out as a coarse pattern
    assert out["mediapipe_full_frame"].mean() < 64  # here every sample lands on a black stripe
    # decoding small first (area-averaged to 448 px) leaves MediaPipe's 2:1 step little to alias
    assert out["mediapipe_roi_small_decode"].std() < out["mediapipe_roi_centre"].std() / 4


def test_vision_centre_crop_keeps_what_the_server_keeps():
    """Scale-then-crop (server) and crop-then-scale (Vision) see the same centre square;
    MediaPipe without a region of interest squashes the whole 4:3 frame instead."""
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)  # smooth content, upscaled
    photo = Image.fromarray(small).resize(CAMERA_SIZE, Image.Resampling.BICUBIC)
    server = shrink(photo, "server", DEFAULT_SPEC).astype(float)
    assert np.abs(shrink(photo, "ios_vision_centercrop", DEFAULT_SPEC) - server).mean() < 3
    assert np.abs(shrink(photo, "mediapipe_full_frame", DEFAULT_SPEC) - server).mean() > 20


def test_camera_photos_are_12mp_and_the_same_every_time(trained):
    from edge_models.model_dir import read_sample_images

    _, result = trained
    paintings = read_sample_images(result.model_dir / "samples" / "parity.zip")[:2]
    first, again = camera_photos(paintings, 2), camera_photos(paintings, 2)
    assert [p.size for p in first] == [CAMERA_SIZE, CAMERA_SIZE[::-1]]
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(first, again))


def test_export_reports_agreement_per_resize_path_and_file(exported):
    card = json.loads(exported.card_path.read_text())
    rows = card["metrics"]["parity"]["resize_paths"]
    by_path: dict[str, dict[str, dict]] = {}
    for row in rows:
        by_path.setdefault(row["path"], {})[row["fmt"]] = row
    assert set(by_path) == set(RESIZE_PATHS)
    n = {row["n"] for row in rows}
    assert len(n) == 1 and n.pop() >= 8  # the same camera photos on every path
    assert by_path["server"]["torch"]["top1_agreement"] == 1.0  # the reference, against itself
    assert {"coreml_fp16", "coreml_int8"} <= set(by_path["ios_vision_centercrop"])
    assert {"tflite_fp32", "tflite_fp16", "tflite_int8"} <= set(by_path["android_bitmap_bilinear"])
    assert {"tflite_classifier_int8_full", "tflite_embedder_fp16"} <= set(by_path["mediapipe_roi_centre"])
    for path, files in by_path.items():
        for fmt, row in files.items():
            assert row["top1_agreement"] is not None or fmt.startswith("tflite_embedder_"), (path, fmt)
            assert row["mean_cosine_embedding"] is not None or fmt.startswith("tflite_classifier_"), (path, fmt)
    # squashing the 4:3 photo into a square moves the embedding more than any faithful path
    full = by_path["mediapipe_full_frame"]["torch"]["mean_cosine_embedding"]
    assert full < min(
        by_path[p]["torch"]["mean_cosine_embedding"] for p in ("ios_vision_centercrop", "mediapipe_roi_centre")
    )
