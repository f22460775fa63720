"""One photo looked at with several limits: the locator's work is done once, and every answer
is the one a fresh call gives."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from backend.engine.artwork import MAIN_SUBJECT, LocatorScene, locate_artworks
from backend.engine.artwork import locate as locate_module
from backend.engine.photo_regions import BESIDE
from backend.engine.photo_views import MAX_SIDE_VIEWS, SEEN_FROM_THE_SIDE
from dataset_tools.camera_snap import simulate_snap
from dataset_tools.images import decode_image
from dataset_tools.wall_snap import simulate_wall


def _photos(wikiart_zip: Path) -> list[Image.Image]:
    with zipfile.ZipFile(wikiart_zip) as zf:
        names = sorted(n for n in zf.namelist() if n.endswith(".jpg") and "_dup" not in n)
        pick = [names[i] for i in np.random.default_rng(3).permutation(len(names))[:12]]
        paintings = [Image.open(io.BytesIO(zf.read(n))).convert("RGB") for n in pick]
    photos = []
    for k, (p, level) in enumerate(zip(paintings[:9], ["default", "steep", "hard"] * 3)):
        photos.append(simulate_snap(p, np.random.default_rng([11, k]), difficulty=level).jpeg)
    photos.append(simulate_wall(paintings[9:12], np.random.default_rng(12)).jpeg)
    return [decode_image(jpeg, min_side=360).image for jpeg in photos]


def test_a_shared_scene_answers_as_fresh_calls_and_builds_the_view_once(
    wikiart_zip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = _photos(wikiart_zip)
    looks = [(MAIN_SUBJECT, 4), (SEEN_FROM_THE_SIDE, MAX_SIDE_VIEWS), (BESIDE, 4)]
    fresh = [[locate_artworks(p, limit=n, looking=lk) for lk, n in looks] for p in photos]
    built = []
    view_of = locate_module.View.of
    monkeypatch.setattr(locate_module.View, "of", staticmethod(lambda rgb: built.append(1) or view_of(rgb)))
    found_any = 0
    for photo, expected in zip(photos, fresh):
        built.clear()
        scene = LocatorScene(photo)
        for (looking, n), want in zip(looks, expected):
            got = locate_artworks(photo, limit=n, looking=looking, scene=scene)
            assert [(r.corners.tolist(), r.confidence) for r in got] == [
                (r.corners.tolist(), r.confidence) for r in want
            ]
            found_any += bool(got)
        assert len(built) == 1  # three looks, one working image with its edge and wall maps
    assert found_any >= len(photos)  # the looks found artworks: the comparison was not of empty lists


def test_a_scene_of_another_photo_is_not_used(wikiart_zip: Path) -> None:
    photos = _photos(wikiart_zip)
    a = next(p for p in photos if locate_artworks(p))  # a scene with quads of its own
    b = next(p for p in photos if p is not a)
    assert [r.corners.tolist() for r in locate_artworks(b, scene=LocatorScene(a))] == [
        r.corners.tolist() for r in locate_artworks(b)
    ]
