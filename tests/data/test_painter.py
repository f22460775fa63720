"""The procedural painter: each picture is a pure function of its keys, the styles of every
group look different from each other, and a picture comes in the size that was asked for."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dataset_tools import painter

REPO = Path(__file__).resolve().parents[2]


def _pixels(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB"))


@pytest.mark.parametrize("style", ["seascape", "discs", "baroque"])  # one of each group
def test_same_keys_same_picture_other_keys_other_picture(style: str) -> None:
    a = painter.paint(style, painter.painting_rng(3, "record", 7), (90, 60))
    b = painter.paint(style, painter.painting_rng(3, "record", 7), (90, 60))
    c = painter.paint(style, painter.painting_rng(3, "record", 8), (90, 60))
    assert np.array_equal(_pixels(a), _pixels(b))
    assert not np.array_equal(_pixels(a), _pixels(c))


def test_string_keys_give_the_same_picture_in_every_process() -> None:
    """Python salts ``hash(str)`` per process; a fake record's image must not change with it."""
    code = (
        "import hashlib, numpy as np; from dataset_tools import painter; "
        "img = painter.paint('symbolism', painter.painting_rng('/9200999/artsnap_demo_003'), (64, 48)); "
        "print(hashlib.sha256(np.asarray(img).tobytes()).hexdigest())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONHASHSEED": salt},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for salt in ("1", "2")
    }
    here = painter.paint("symbolism", painter.painting_rng("/9200999/artsnap_demo_003"), (64, 48))
    assert digests == {hashlib.sha256(_pixels(here).tobytes()).hexdigest()}


def test_bad_keys_and_unknown_styles_are_refused() -> None:
    with pytest.raises(ValueError):
        painter.painting_rng()
    with pytest.raises(ValueError):
        painter.painting_rng(-1, 2)
    with pytest.raises(ValueError, match="unknown style"):
        painter.paint("rococo", painter.painting_rng(0), 32)


@pytest.mark.parametrize("style", ["portrait", "grating", "impressionism"])
def test_any_size_and_shape(style: str) -> None:
    """Square-composed families keep their centre when asked for a landscape picture."""
    for size in [(120, 80), (50, 90), (33, 33)]:
        img = painter.paint(style, painter.painting_rng(0), size)
        assert img.size == size and img.mode == "RGB"
    square = _pixels(painter.paint("portrait", painter.painting_rng(5), 120)).astype(np.float32)
    wide = _pixels(painter.paint("portrait", painter.painting_rng(5), (120, 80))).astype(np.float32)
    assert np.abs(wide - square[20:100]).mean() < 2.0


def _colour_and_texture(img: Image.Image) -> np.ndarray:
    """Mean colour, contrast and edge strength: the things that make families look apart."""
    a = np.asarray(img, np.float32)
    grey = a.mean(2)
    edges = np.abs(np.diff(grey, axis=1)).mean() + np.abs(np.diff(grey, axis=0)).mean()
    return np.array([*a.mean((0, 1)), grey.std(), edges])


def _texture_only(img: Image.Image) -> np.ndarray:
    """Colour-free texture statistics (the training textures have random colours): edge
    strength relative to contrast (high for gratings, low for washes), and how much of the
    edge energy sits in the strongest tenth of pixels (high for hard-edged discs)."""
    grey = np.asarray(img.convert("L").reduce(2), np.float32)  # halved: below the grain
    mag = np.hypot(np.diff(grey, axis=1)[:-1], np.diff(grey, axis=0)[:, :-1]).ravel()
    strongest = np.sort(mag)[::-1][: mag.size // 10]
    return np.array([mag.mean() / (grey.std() + 1e-6), strongest.sum() / (mag.sum() + 1e-6)])


@pytest.mark.parametrize(
    ("group", "statistic", "margin", "size", "supersample"),
    [
        ("FAMILIES", _colour_and_texture, 12.0, 96, 2),
        ("WIKIART_STYLES", _colour_and_texture, 12.0, (96, 72), 2),
        ("TEXTURES", _texture_only, 0.15, 96, 1),
    ],
)
def test_every_style_is_distinct_from_the_others_in_its_group(group, statistic, margin, size, supersample) -> None:
    """Averaged over a dozen pictures, every pair of styles differs clearly in at least one
    statistic: what lets search return a family, and the tiny training tests learn a style."""
    styles = getattr(painter, group)
    mean = {
        name: np.mean(
            [
                statistic(painter.paint(name, painter.painting_rng(0, name, i), size, supersample=supersample))
                for i in range(12)
            ],
            axis=0,
        )
        for name in styles
    }
    names = list(mean)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert np.abs(mean[a] - mean[b]).max() > margin, (a, b, mean[a], mean[b])
