"""The million-item section: its vector model, its exact reference, its recall, and one tiny run end to end.

The figures of record come from ``make bench``; here we prove the parts that decide whether
those figures mean anything: the items are the same every time they are generated (each index
kind is built from the same collection), the streamed exact search is exact, recall of codes
is not fooled by ties, and a worker process really opens the saved index and answers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks import million_items
from benchmarks.million_vectors import VectorModel, exact_neighbours, recall_at_k


def _seeds(n: int = 300, dim: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True), rng.integers(0, 4, n)


def test_items_are_regenerated_identically_and_stay_near_their_seeds() -> None:
    seeds, labels = _seeds()
    model = VectorModel(seeds, labels, n=2500)
    first = [v for _, v in model.chunks(1000)]
    again = [v for _, v in model.chunks(1000)]
    assert [len(v) for v in first] == [1000, 1000, 500]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(first[0], first[1])  # chunks are not copies of each other
    ids = np.concatenate([i for i, _ in model.chunks(1000)])
    assert ids.tolist() == list(range(1, 2501))
    # Every item is a unit vector closer to some real seed than random directions are.
    items = np.concatenate(first)
    np.testing.assert_allclose(np.linalg.norm(items, axis=1), 1.0, atol=1e-5)
    assert np.median((items @ seeds.T).max(1)) > 0.6
    assert model.seed_neighbour_share() > 0.9


def test_streamed_exact_neighbours_equal_brute_force_and_recall_counts_overlap() -> None:
    seeds, labels = _seeds()
    model = VectorModel(seeds, labels, n=2300)
    queries = model.queries(15)
    got, scores = exact_neighbours(model, queries, 10, size=700)
    everything = np.concatenate([v for _, v in model.chunks(700)])
    brute = np.argsort(-(queries @ everything.T), axis=1, kind="stable")[:, :10] + 1
    np.testing.assert_array_equal(np.sort(got, 1), np.sort(brute, 1))
    assert (np.diff(scores, axis=1) <= 1e-6).all()  # best first
    assert recall_at_k(got, brute, 10) == 1.0
    half = got.copy()
    half[:, 5:] = -1  # an index that found only 5 of 10
    assert recall_at_k(half, brute, 10) == pytest.approx(0.5)


def test_code_recall_counts_tied_items_as_found() -> None:
    packed = np.packbits(np.array([[0] * 16, [0] * 16, [0] * 16, [1] + [0] * 15, [1] * 16], np.uint8), axis=1)
    q = packed[:1]
    kth = million_items._kth_hamming(packed, q)  # K = 10 > 5 items: the farthest item's distance
    assert kth.tolist() == [16]
    tied = np.array([[2, 3, 1, 4, 5, -1, -1, -1, -1, -1]])
    # Five right answers out of K = 10 slots (the collection only has five).
    assert million_items._hamming_recall(tied, packed, q, kth) == pytest.approx(0.5)
    # With a K-th distance of 0 only the identical codes count, whichever three were returned.
    assert million_items._hamming_recall(
        np.array([[3, 2, 4, -1, -1, -1, -1, -1, -1, -1]]), packed, q, np.array([0])
    ) == (pytest.approx(0.2))


def test_a_tiny_collection_is_built_opened_by_a_worker_and_scored(tmp_path: Path, monkeypatch) -> None:
    from backend.config import Settings
    from benchmarks.context import BenchContext

    rng = np.random.default_rng(1)
    seeds = rng.standard_normal((400, 1280)).astype(np.float32)
    seeds /= np.linalg.norm(seeds, axis=1, keepdims=True)
    labels = rng.integers(0, 4, 400)
    monkeypatch.setattr(million_items, "_seeds", lambda ctx: (seeds, labels, "random test seeds"))
    monkeypatch.setattr(million_items, "sizes", lambda quick: (3000, 20))
    monkeypatch.setattr(million_items, "kinds", lambda n: [("Flat", False, [""]), ("BFlat", True, [""])])
    ctx = BenchContext.create(
        Settings(data_dir=tmp_path / "data"), quick=True, datasets_dir=None
    )  # no model: seeds are given
    result = million_items.run(ctx)
    flat, bflat = result.figures
    assert (flat.factory, bflat.factory) == ("Flat", "BFlat")
    assert flat.recall == pytest.approx(1.0) and bflat.recall == pytest.approx(1.0)  # both exact
    assert flat.resident_bytes_per_item == pytest.approx(1280 * 4 + 48)
    assert bflat.resident_bytes_per_item == pytest.approx(8 + 48)
    assert flat.disk_bytes_per_item > 1280 * 4 > bflat.disk_bytes_per_item
    assert 0 < flat.cold_start_s < 60 and flat.p99_ms >= flat.p50_ms > 0 and flat.rss_mb > 0
    md = result.markdown()
    assert "3,000 items" in md and "Perturbation model" in md and "Flat p99 ÷ this" in md
    assert result.targets()[0].met is False  # no approximate kind was measured, so nothing met the recall floor
