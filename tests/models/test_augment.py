"""Training views made by ``phone_photo``: mild, upright, varied, and cached under a key that
changes when they do."""

from __future__ import annotations

import numpy as np
from PIL import Image

from edge_models.augment import PhoneAugment, phone_photo, view_rng


def quadrants(w: int = 160, h: int = 120) -> Image.Image:
    """Four colours and a bright diagonal: a flip, a rotation or a big shift shows."""
    a = np.zeros((h, w, 3), np.uint8)
    a[: h // 2, : w // 2], a[: h // 2, w // 2 :] = (220, 40, 40), (40, 200, 60)
    a[h // 2 :, : w // 2], a[h // 2 :, w // 2 :] = (40, 60, 210), (230, 210, 60)
    yy, xx = np.mgrid[0:h, 0:w]
    a[np.abs(yy / h - xx / w) < 0.04] = 250
    return Image.fromarray(a)


def _small(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB").resize((32, 24), Image.BOX), np.float64).ravel()


def test_views_stay_upright_recognisable_and_varied() -> None:
    img = quadrants()
    ref, flipped = _small(img), _small(img.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    views = [phone_photo(img, view_rng("cd" * 32, v)) for v in range(24)]
    assert all(v.size == img.size and v.mode == "RGB" for v in views)
    same = [np.corrcoef(_small(v), ref)[0, 1] for v in views]
    mirror = [np.corrcoef(_small(v), flipped)[0, 1] for v in views]
    assert min(same) > 0.5 and np.median(same) > 0.75  # never unrecognisable
    assert max(mirror) < 0  # never flipped
    assert len({_small(v).round().tobytes() for v in views}) == len(views)
    means = np.array([np.asarray(v, np.float32).mean((0, 1)) for v in views])
    assert np.ptp(means[:, 0] - means[:, 2]) > 10  # the light's colour varies from view to view


def test_strengths_change_the_cache_key() -> None:
    assert PhoneAugment().version != PhoneAugment(glare_prob=0.5).version
    assert PhoneAugment().version == PhoneAugment().version
