"""A wall of real paintings: the small, plain or blurred one beside a finely textured one is
recognised too (the closer look at the rest of the photo), and nothing on the wall is
matched to a painting that is not there."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from backend.engine import photo_regions
from backend.engine.photo_regions import ROOM_FOR_MORE, PhotoRegion, parts_of_the_rest, worth_looking_closer
from backend.engine.recognition import Recognition
from backend.engine.recognition.decision import Evidence
from backend.engine.recognition.verification import Verification
from backend.engine.search_options import SearchOptions
from backend.engine.services import Engine
from dataset_tools.wall_snap import simulate_wall

# Walls of WikiArt paintings (left to right) and the seed of each photo. In each, one or two
# textured paintings take most of the photo's keypoints; the other is left a few dozen.
WALLS = [
    (["baroque/baroque_0377.jpg", "post_impressionism/post_impressionism_0118.jpg", "symbolism/symbolism_0028.jpg"], 1),
    (
        [
            "impressionism/impressionism_0083.jpg",
            "post_impressionism/post_impressionism_0192.jpg",
            "post_impressionism/post_impressionism_0095.jpg",
        ],
        3,
    ),
    (["baroque/baroque_0112.jpg", "symbolism/symbolism_0478.jpg"], 10),
]
OTHERS = 110
"""Further paintings in the collection: enough for its visual words (the threshold is lowered)."""


@pytest.fixture(scope="module")
def walls_engine(
    wikiart_zip: Path, tmp_path_factory: pytest.TempPathFactory, models_dir: Path, embedding_model
) -> Engine:
    from backend.config import Settings
    from tests.conftest import _link_models

    root = tmp_path_factory.mktemp("walls")
    hung = {n for names, _ in WALLS for n in names}
    with zipfile.ZipFile(wikiart_zip) as zf:
        names = sorted(n for n in zf.namelist() if n.endswith(".jpg") and "_dup" not in n and n not in hung)
        order = np.random.default_rng(12).permutation(len(names))[:OTHERS]
        for n in sorted(hung) + [names[i] for i in order]:
            (root / "src" / n).parent.mkdir(parents=True, exist_ok=True)
            (root / "src" / n).write_bytes(zf.read(n))
    _link_models(root / "data", models_dir)
    eng = Engine.open(Settings(data_dir=root / "data"))
    eng.ingest.ingest(root / "src", "w")
    assert eng.feature_store.get(eng.catalog.collection_id("w")).has_vocabulary
    return eng


@pytest.mark.parametrize(("names", "seed"), WALLS, ids=[f"wall-{seed}" for _, seed in WALLS])
def test_every_painting_on_a_wall_is_a_regions_match(
    walls_engine: Engine, wikiart_zip: Path, names: list[str], seed: int
) -> None:
    cid = walls_engine.catalog.collection_id("w")
    ids = {
        v.source_path: v.id
        for v in walls_engine.catalog.get_items(walls_engine.catalog.ids_with_status(cid, "indexed")).values()
    }
    with zipfile.ZipFile(wikiart_zip) as zf:
        paintings = [Image.open(io.BytesIO(zf.read(n))).convert("RGB") for n in names]
    wall = simulate_wall(paintings, np.random.default_rng([300, seed]))
    result = walls_engine.search.search_image("w", wall.jpeg, SearchOptions(top_k=5))
    matched = {r.match.hit.item.id: r.match for r in result.regions if r.match is not None}
    truth = [ids[n] for n in names]
    assert set(matched) <= set(truth), "a region matched a painting that is not on the wall"
    assert set(matched) == set(truth), [n for n, t in zip(names, truth, strict=True) if t not in matched]
    for t, corners in zip(truth, wall.corners, strict=True):  # each where it hangs
        found = np.asarray(matched[t].corners)
        assert np.linalg.norm(found - corners, axis=1).max() < 0.03 * np.hypot(*wall.photo.size)


def _recognised(outline: list[list[float]], artwork_size: tuple[int, int]) -> PhotoRegion:
    hit = Recognition(
        item_id=1,
        outline=np.asarray(outline, np.float32),
        evidence=Evidence(inliers=50, matches=60, inlier_ratio=0.8, coverage=0.5, plausible=True, score=0.99),
        verification=Verification.failed(1, 60, 300),
        artwork_size=artwork_size,
    )
    region = PhotoRegion(outline=hit.outline, found_by="recognition")
    region.recognise(hit, (640, 480), (640, 480))
    return region


def test_only_a_photo_with_room_beside_its_artworks_is_looked_at_again() -> None:
    """One artwork seen from the side is squeezed, not far away: the photo is not looked at
    again (the single-painting path keeps its time); a small one, or two, may have others
    beside them."""
    size = (640, 480)
    # a 256 x 256 painting seen about 60 degrees to the side: 110 px wide, 330 px high
    steep = _recognised([[260, 70], [370, 110], [370, 370], [260, 400]], (256, 256))
    assert steep.recognition is not None
    assert steep.area() < ROOM_FOR_MORE * size[0] * size[1] < steep.recognition.head_on_area()
    assert not worth_looking_closer([steep], size)
    small = _recognised([[60, 150], [200, 150], [200, 330], [60, 330]], (200, 256))
    assert worth_looking_closer([small], size)
    big = _recognised([[120, 60], [520, 60], [520, 420], [120, 420]], (256, 230))
    assert not worth_looking_closer([big], size)
    assert worth_looking_closer([big, small], size)


def test_the_rest_of_the_photo_is_not_located_when_the_caller_turned_the_locator_off(monkeypatch) -> None:
    """``locate: false`` holds for the closer look too: the parts it describes are then the
    upright boxes clear of the recognised artwork, and the locator never runs."""
    photo = Image.new("RGB", (400, 300), (180, 170, 160))
    recognised = np.asarray([[20, 40], [150, 40], [150, 200], [20, 200]], np.float32)

    def no_locator(*args, **kwargs):
        raise AssertionError("the locator ran although the caller turned it off")

    monkeypatch.setattr(photo_regions, "locate_artworks", no_locator)
    quads, views = parts_of_the_rest(photo, [recognised], locate=False)
    assert quads and len(quads) == len(views)
    for quad in quads:  # clear of the recognised artwork, inside the photo
        assert quad[:, 0].min() >= 150 - 0.5 or quad[:, 0].max() <= 20 or quad[:, 1].min() >= 200 - 0.5
        assert quad.min() >= -0.5 and quad[:, 0].max() <= 400 and quad[:, 1].max() <= 300
    with pytest.raises(AssertionError, match="locator ran"):
        parts_of_the_rest(photo, [recognised])  # the default does locate


# Walls where each painting covers 3–9 % of the photo (the 3 000-painting bench's misses):
# (paintings left to right, seed, the one recognised first).
SMALL_WALLS = [
    (["baroque/baroque_0492.jpg", "impressionism/impressionism_0131.jpg", "romanticism/romanticism_0493.jpg"], 29, 0),
    (["symbolism/symbolism_0185.jpg", "baroque/baroque_0210.jpg", "symbolism/symbolism_0427.jpg"], 5, 2),
]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    import cv2

    inter, _ = cv2.intersectConvexConvex(a.astype(np.float32), b.astype(np.float32))
    union = cv2.contourArea(a.astype(np.float32)) + cv2.contourArea(b.astype(np.float32)) - inter
    return float(inter / union) if union > 0 else 0.0


@pytest.mark.parametrize(("names", "seed", "first"), SMALL_WALLS, ids=[f"wall-{s}" for _, s, _ in SMALL_WALLS])
def test_beside_a_recognised_painting_each_small_one_is_located_on_its_own(
    wikiart_zip: Path, names: list[str], seed: int, first: int
) -> None:
    """The locator's defaults are for a visitor's main subject (8 % of the photo at least):
    beside a recognised painting it found none of these, or one quad around two of them."""
    from dataset_tools.images import decode_image

    with zipfile.ZipFile(wikiart_zip) as zf:
        paintings = [Image.open(io.BytesIO(zf.read(n))).convert("RGB") for n in names]
    wall = simulate_wall(paintings, np.random.default_rng([300, seed]))
    image = decode_image(wall.jpeg, min_side=360).image
    k = image.width / wall.photo.width
    truth = [np.asarray(c, np.float64) * k for c in wall.corners]
    quads, _ = parts_of_the_rest(image, [truth[first]])
    for n, t in enumerate(truth):
        if n != first:
            assert max((_iou(q, t) for q in quads), default=0.0) > 0.6, (names[n], [np.round(q) for q in quads])


def test_a_photo_nothing_recognises_is_not_located_from_the_side_when_the_locator_is_off(
    walls_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The side-view look (nothing recognised, even in the stretched view) runs the locator:
    ``locate: false`` must hold for it too, and with the locator on it does run."""
    rng = np.random.default_rng(5)
    noise = Image.fromarray(rng.integers(0, 256, (480, 640, 3), np.uint8)).resize((1280, 960))
    buf = io.BytesIO()
    noise.save(buf, "JPEG", quality=85)

    def no_locator(*args, **kwargs):
        raise AssertionError("the locator ran although the caller turned it off")

    monkeypatch.setattr(photo_regions, "locate_artworks", no_locator)
    result = walls_engine.search.search_image("w", buf.getvalue(), SearchOptions(top_k=3, locate=False))
    assert result.match is None and result.recognition is not None
    assert result.recognition["side_view"] is False and result.timings.locate_ms < 1.0
    with pytest.raises(AssertionError, match="locator ran"):
        walls_engine.search.search_image("w", buf.getvalue(), SearchOptions(top_k=3))
