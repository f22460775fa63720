"""Recognition: the photographed artwork is *the* match, with its outline; a painting that is
not in the collection gets ``match: null`` and similar works; a wall with several paintings
gives one region each."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from backend.engine.recognition import feature_store
from backend.engine.search_options import SearchOptions
from backend.engine.search_results import SearchResult
from backend.engine.services import Engine
from dataset_tools.camera_snap import simulate_snap
from dataset_tools.demo import paint
from dataset_tools.wall_snap import WallSnap, simulate_wall

# Families with texture for ORB to hold on to (flat-colour grids and stripes have too few
# distinct corners to verify, and are left to the global embedding).
FAMILIES = ("cubist", "pointillism", "seascape", "starry_swirls", "ink_wash", "portrait")
PER_FAMILY = 6


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=92)
    return buf.getvalue()


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory, models_dir: Path, embedding_model) -> Iterator[Engine]:
    """A collection of 36 generated paintings whose visual words are on (the threshold is
    lowered for the test: a real collection gets them at a few hundred items)."""
    from backend.config import Settings
    from tests.conftest import _link_models

    root = tmp_path_factory.mktemp("gallery")
    source = root / "src"
    for fam in FAMILIES:
        (source / fam).mkdir(parents=True)
        for i in range(PER_FAMILY):
            (source / fam / f"{fam}_{i}.jpg").write_bytes(_jpeg(paint(fam, i, size=256, seed=3)))
    data = root / "data"
    _link_models(data, models_dir)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(feature_store, "MIN_VOCABULARY_ITEMS", 20)
        eng = Engine.open(Settings(data_dir=data))
        summary = eng.ingest.ingest(source, "gallery")
    assert summary.added == len(FAMILIES) * PER_FAMILY and summary.local_features
    assert eng.feature_store.get(eng.catalog.collection_id("gallery")).has_vocabulary
    yield eng
    eng.close()


def _ids(eng: Engine, collection: str) -> dict[str, int]:
    cid = eng.catalog.collection_id(collection)
    return {v.source_path: v.id for v in eng.catalog.get_items(eng.catalog.ids_with_status(cid, "indexed")).values()}


def _corner_error(found: np.ndarray, truth: np.ndarray, size: tuple[int, int]) -> float:
    """Largest corner distance as a share of the photo's diagonal."""
    return float(np.linalg.norm(np.asarray(found) - np.asarray(truth), axis=1).max() / np.hypot(*size))


def test_a_snap_of_a_catalogue_painting_is_recognised_with_its_outline(gallery: Engine) -> None:
    ids = _ids(gallery, "gallery")
    right, wrong, misses = 0, [], []
    for k, fam in enumerate(FAMILIES):
        index = k % PER_FAMILY
        snap = simulate_snap(paint(fam, index, size=256, seed=3), np.random.default_rng([5, k]))
        result = gallery.search.search_image("gallery", snap.jpeg, SearchOptions(top_k=5))
        expected = ids[f"{fam}/{fam}_{index}.jpg"]
        if result.match is None:
            misses.append(fam)
            continue
        if result.match.hit.item.id != expected:
            wrong.append((fam, result.match.hit.item.source_path))
            continue
        right += 1
        assert _corner_error(result.match.corners, snap.corners, snap.photo.size) < 0.02, fam
        assert result.match.evidence.inliers >= 12 and 0 < result.match.evidence.score <= 1
        assert result.hits[0].item.id == expected  # the recognised work comes first in the results
        assert any("recognised" in r for r in result.hits[0].reasons)
        (region,) = result.regions
        assert region.found_by == "recognition" and region.match is not None and region.match.hit.item.id == expected
        assert result.artwork is not None and result.artwork["found"]
    assert not wrong, wrong
    assert right >= len(FAMILIES) - 1, misses


def test_a_painting_not_in_the_collection_gets_no_match_but_similar_works(gallery: Engine) -> None:
    for k, fam in enumerate(FAMILIES):
        stranger = paint(fam, 40 + k, size=256, seed=3)  # same family, never ingested
        snap = simulate_snap(stranger, np.random.default_rng([6, k]))
        result = gallery.search.search_image("gallery", snap.jpeg, SearchOptions(top_k=5))
        assert result.match is None, (fam, result.match.hit.item.source_path, result.match.evidence)
        assert len(result.hits) == 5  # "not in this collection: similar works"
        assert all(r.match is None for r in result.regions)
        assert sum(fam in h.item.label_names for h in result.hits) >= 2, [h.item.source_path for h in result.hits]


def _wall_result(eng: Engine, paintings: list[Image.Image], seed: int) -> tuple[SearchResult, WallSnap]:
    photo = simulate_wall(paintings, np.random.default_rng(seed), difficulty="easy")
    return eng.search.search_image("gallery", photo.jpeg, SearchOptions(top_k=5)), photo


def test_a_wall_with_three_paintings_gives_one_region_each(gallery: Engine) -> None:
    """Three paintings about 300 px wide in a 1280 px photo: each is a region, and those
    with texture enough at that size are recognised where they hang (the bench measures how
    often all of them are: BENCHMARKS.md, recognition)."""
    ids = _ids(gallery, "gallery")
    hung = [("cubist", 1), ("starry_swirls", 2), ("pointillism", 3)]
    result, photo = _wall_result(gallery, [paint(f, i, size=256, seed=3) for f, i in hung], seed=1)
    by_item = {r.match.hit.item.id: r for r in result.regions if r.match is not None}
    found = 0
    for (fam, i), truth in zip(hung, photo.corners):
        region = by_item.get(ids[f"{fam}/{fam}_{i}.jpg"])
        if region is None:
            continue
        found += 1
        assert _corner_error(region.corners, truth, photo.photo.size) < 0.02
        assert region.hits[0].item.id == region.match.hit.item.id  # each region answers for itself
    assert found >= 2 and len(by_item) == found, [r.match and r.match.hit.item.source_path for r in result.regions]
    assert len(result.regions) == 3  # the one not recognised is still a region, with similar works
    assert all(r.hits for r in result.regions)
    assert result.match is not None and result.match.hit.item.id in by_item


def test_a_wall_with_an_unknown_painting_matches_only_the_known_ones(gallery: Engine) -> None:
    ids = _ids(gallery, "gallery")
    known = [("seascape", 2), ("ink_wash", 4)]
    paintings = [paint(f, i, size=256, seed=3) for f, i in known] + [paint("portrait", 44, size=256, seed=3)]
    result, _ = _wall_result(gallery, paintings, seed=2)
    matched = sorted(r.match.hit.item.id for r in result.regions if r.match is not None)
    assert matched == sorted(ids[f"{f}/{f}_{i}.jpg"] for f, i in known)


def test_a_label_filter_also_restricts_what_can_be_recognised(gallery: Engine) -> None:
    snap = simulate_snap(paint("cubist", 2, size=256, seed=3), np.random.default_rng(9))
    opts = SearchOptions(top_k=5, filter_labels=("seascape",))
    result = gallery.search.search_image("gallery", snap.jpeg, opts)
    assert result.match is None or "seascape" in result.match.hit.item.label_names
    assert all("seascape" in h.item.label_names for h in result.hits)


def test_an_on_device_embedding_has_no_match_and_no_regions(gallery: Engine) -> None:
    cid = gallery.catalog.collection_id("gallery")
    vec = gallery.index_store.get(cid, "cnn").reconstruct(np.array([3]))[0]
    result = gallery.search.search_vectors("gallery", {"cnn": vec}, SearchOptions(top_k=3))
    assert result.match is None and result.regions == []
    body = result.to_dict()
    assert body["match"] is None and body["regions"] == [] and len(body["results"]) == 3


def test_a_small_collection_recognises_a_snap_from_its_visual_words(demo_engine: Engine, demo_source) -> None:
    """48 items are enough for visual words: the snap's painting is found and verified from the
    photo's local features alone, so the photo is neither located nor described by the global
    embedding (that route costs several times as much per photo)."""
    cid = demo_engine.catalog.collection_id("demo")
    assert demo_engine.feature_store.get(cid).has_vocabulary
    rel = "pointillism/pointillism_0002.jpg"
    snap = simulate_snap(Image.open(Path(demo_source.out_dir) / rel).convert("RGB"), np.random.default_rng(4))
    result = demo_engine.search.search_image("demo", snap.jpeg, SearchOptions(top_k=5))
    assert result.match is not None and result.match.hit.item.source_path == rel
    assert result.timings.embed_ms == 0.0  # the match's stored vectors answered


def test_without_visual_words_the_embedding_shortlist_is_verified(make_settings, demo_source, monkeypatch) -> None:
    """A collection too small for a vocabulary still recognises: candidates come from the
    global embedding only."""
    monkeypatch.setattr(feature_store, "MIN_VOCABULARY_ITEMS", 10_000)
    eng = Engine.open(make_settings())
    try:
        eng.ingest.ingest(demo_source.out_dir, "small")
        assert not eng.feature_store.get(eng.catalog.collection_id("small")).has_vocabulary
        rel = "pointillism/pointillism_0002.jpg"
        snap = simulate_snap(Image.open(Path(demo_source.out_dir) / rel).convert("RGB"), np.random.default_rng(4))
        result = eng.search.search_image("small", snap.jpeg, SearchOptions(top_k=5))
    finally:
        eng.close()
    assert result.match is not None and result.match.hit.item.source_path == rel
    assert result.timings.embed_ms > 0  # the photo was described to find the candidates


# --------------------------------------------------------------------------- WikiArt


def test_wikiart_snaps_are_recognised_and_unknown_paintings_are_not(
    wikiart_zip: Path, make_settings, tmp_path: Path, monkeypatch
) -> None:
    """Real paintings: 160 in the collection, snaps of 12 of them and of 12 others."""
    with zipfile.ZipFile(wikiart_zip) as zf:
        names = sorted(n for n in zf.namelist() if n.endswith(".jpg") and "_dup" not in n)
        order = np.random.default_rng(10).permutation(len(names))
        inside, outside = [names[i] for i in order[:160]], [names[i] for i in order[160:172]]
        for n in inside:
            (tmp_path / "src" / n).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / "src" / n).write_bytes(zf.read(n))
        pictures = {n: Image.open(io.BytesIO(zf.read(n))).convert("RGB") for n in inside[:12] + outside}
    monkeypatch.setattr(feature_store, "MIN_VOCABULARY_ITEMS", 100)
    eng = Engine.open(make_settings())
    try:
        eng.ingest.ingest(tmp_path / "src", "w")
        ids = _ids(eng, "w")
        right = wrong = 0
        for k, name in enumerate(inside[:12]):
            snap = simulate_snap(pictures[name], np.random.default_rng([7, k]))
            result = eng.search.search_image("w", snap.jpeg, SearchOptions(top_k=10))
            if result.match is not None:
                right += result.match.hit.item.id == ids.get(name)
                wrong += result.match.hit.item.id != ids.get(name)
        matched_strangers = 0
        for k, name in enumerate(outside):
            snap = simulate_snap(pictures[name], np.random.default_rng([8, k]))
            matched_strangers += eng.search.search_image("w", snap.jpeg, SearchOptions(top_k=10)).match is not None
    finally:
        eng.close()
    assert wrong == 0 and right >= 11, (right, wrong)
    assert matched_strangers == 0
