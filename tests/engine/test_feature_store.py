"""The local-feature store: what is saved is what is read back, by another process too,
through deletes, compaction and a save cut short."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from backend.engine.recognition import FeatureStore, extract_catalogue_features, feature_store
from backend.engine.recognition.local_features import LocalFeatures
from dataset_tools.demo import FAMILIES, paint


@pytest.fixture(scope="module")
def features() -> list[LocalFeatures]:
    """Local features of 24 generated paintings of every family."""
    families = sorted(FAMILIES)
    return [extract_catalogue_features(paint(families[i % len(families)], i, size=256)) for i in range(24)]


def _same(a: LocalFeatures | None, b: LocalFeatures) -> None:
    assert a is not None
    assert a.size == b.size
    assert np.array_equal(a.descriptors, b.descriptors)
    assert np.abs(a.xy - b.xy).max() <= 0.13  # float16 positions: 1/8 px below 256


def test_saved_features_read_back_in_a_new_reader(tmp_path: Path, features) -> None:
    store = FeatureStore(tmp_path)
    writer = store.writer(1)
    assert not writer.exists and len(writer) == 0
    writer.add([10, 11, 12], features[:3])
    writer.save()
    reader = FeatureStore(tmp_path).get(1)  # as another process sees it
    assert reader.exists and reader.ids().tolist() == [10, 11, 12]
    for item_id, f in zip((10, 11, 12), features):
        _same(reader.get(item_id), f)
    assert reader.get(13) is None


def test_a_reader_follows_the_writers_saves(tmp_path: Path, features) -> None:
    store = FeatureStore(tmp_path)
    w = store.writer(1)
    w.add([1], features[:1])
    w.save()
    reader = FeatureStore(tmp_path)
    assert reader.get(1).ids().tolist() == [1]
    w = store.writer(1)
    w.add([2], features[1:2])
    w.save()
    assert reader.get(1).ids().tolist() == [1, 2]


def test_removed_items_are_gone_and_can_come_back(tmp_path: Path, features) -> None:
    store = FeatureStore(tmp_path)
    w = store.writer(1)
    w.add([1, 2, 3], features[:3])
    w.save()
    w = store.writer(1)
    assert w.remove(np.array([2, 99])) == 1
    w.save()
    assert store.writer(1).ids().tolist() == [1, 3]
    assert store.writer(1).get(2) is None
    w = store.writer(1)
    w.add([2], features[5:6])  # the id is used again (e.g. re-embedded after a crash)
    w.save()
    _same(store.writer(1).get(2), features[5])


def test_readding_an_item_replaces_its_features(tmp_path: Path, features) -> None:
    store = FeatureStore(tmp_path)
    w = store.writer(1)
    w.add([1], features[:1])
    w.save()
    w = store.writer(1)
    w.add([1], features[1:2])
    w.save()
    r = store.writer(1)
    assert r.ids().tolist() == [1]
    _same(r.get(1), features[1])


def test_compaction_keeps_every_live_item_in_one_segment(tmp_path: Path, features) -> None:
    store = FeatureStore(tmp_path)
    for i, f in enumerate(features[:10]):  # ten saves: ten segments
        w = store.writer(1)
        w.add([i], [f])
        w.save()
    w = store.writer(1)
    w.remove(np.arange(0, 10, 2))  # half the points dead: worth compacting
    w.save()
    assert len(list(tmp_path.glob("1/local-features/seg-*.points.npy"))) == 1
    r = store.writer(1)
    assert r.ids().tolist() == [1, 3, 5, 7, 9]
    for i in (1, 3, 5, 7, 9):
        _same(r.get(i), features[i])


def test_a_save_cut_short_keeps_the_last_saved_state_and_its_leftovers_go(
    tmp_path: Path, features, monkeypatch
) -> None:
    store = FeatureStore(tmp_path)
    w = store.writer(1)
    w.add([1], features[:1])
    w.save()

    def power_cut(self, path):
        raise OSError("power cut")

    with monkeypatch.context() as m:
        m.setattr(feature_store._Manifest, "write", power_cut)
        w = store.writer(1)
        w.add([2], features[1:2])
        with pytest.raises(OSError):
            w.save()  # the new segment is on disk, the manifest still the old one
    folder = tmp_path / "1" / "local-features"
    assert len(list(folder.glob("seg-*.items.npy"))) == 2
    assert FeatureStore(tmp_path).get(1).ids().tolist() == [1]  # readers see the last saved state
    w = store.writer(1)  # the next writer clears what the cut left
    assert len(list(folder.glob("seg-*.items.npy"))) == 1
    w.add([3], features[2:3])
    w.save()
    assert store.writer(1).ids().tolist() == [1, 3]


def test_a_vocabulary_comes_once_the_collection_is_big_enough(tmp_path: Path, features, monkeypatch) -> None:
    monkeypatch.setattr(feature_store, "MIN_VOCABULARY_ITEMS", 20)
    store = FeatureStore(tmp_path)
    w = store.writer(1)
    w.add(list(range(1, 11)), features[:10])
    w.save()
    assert not store.get(1).has_vocabulary and store.get(1).words() is None
    w = store.writer(1)
    w.add(list(range(11, 25)), features[10:24])
    w.save()
    reader = store.get(1)
    assert reader.has_vocabulary
    index = reader.words()
    assert index is not None
    for item_id in (3, 17):  # an item's own words find it first
        ids, scores = index.top(reader.query_words(features[item_id - 1]), 3)
        assert ids[0] == item_id and scores[0] == pytest.approx(1.0, abs=1e-4)


def test_a_stored_item_costs_at_most_16_kb(tmp_path: Path, features) -> None:
    store = FeatureStore(tmp_path)
    w = store.writer(1)
    w.add(list(range(len(features))), features)
    w.save()
    per_item = store.describe(1)["bytes_per_item"]
    assert 0 < per_item <= 16 * 1024
    assert np.mean([len(f) for f in features]) > 100  # the paintings do have keypoints


def test_items_with_few_keypoints_wait_for_enough_to_train_words(tmp_path: Path, features) -> None:
    """Flat swatches and tiny images give a handful of keypoints each: a collection of them
    past the item threshold is saved without a vocabulary (training one would fail, or vote
    at random), and gets one once real paintings bring enough keypoints."""
    rng = np.random.default_rng(0)
    few = [
        LocalFeatures(
            rng.uniform(0, 200, (3, 2)).astype(np.float32), rng.integers(0, 256, (3, 32), dtype=np.uint8), (200, 150)
        )
        for _ in range(feature_store.MIN_VOCABULARY_ITEMS + 4)
    ]
    store = FeatureStore(tmp_path)
    w = store.writer(1)
    w.add(list(range(1, len(few) + 1)), few)
    w.save()  # with the item threshold alone, words were trained on these 60 descriptors
    reader = store.get(1)
    assert not reader.has_vocabulary and len(reader.ids()) == len(few)
    w = store.writer(1)
    w.add(list(range(100, 100 + len(features))), features)
    w.save()
    assert store.get(1).has_vocabulary
