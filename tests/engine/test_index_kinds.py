"""Compressed, re-ranked and binary indexes: add, delete, reload (also memory-mapped), crashes.

Every index kind the engine accepts runs the same checks a user would notice: an item is found
by its own catalog id, a deleted item never comes back, a reload (or a worker's memory-mapped
read) answers the same, a save that dies half way keeps the previous index, and a crash
between the two files of a re-ranked index is repaired by ``reconcile``.
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from backend.engine.binary_index import BinaryIndex, to_unit_codes
from backend.engine.index import IndexConfigError, IndexMeta, VectorIndex
from backend.engine.index_kinds import check_factory, new_index, open_index
from backend.engine.index_store import IndexStore
from backend.engine.reranked_index import RerankedIndex, split_refine

DIM = 16
BITS = 32
N = 1200  # enough to train the IVF and PQ factories below

FLOAT_KINDS = ["IVF16,Flat", "IVF16,SQ8", "IVF16,PQ8x4fs,RFlat", "HNSW16,RFlat"]
OPQ = "OPQ4_16,IVF16,PQ4,Refine(SQfp16)"  # a rotation before the IVF; slow to train: only in the first test
BINARY_KINDS = ["BFlat", "BIVF8", "BHNSW16"]
# Search settings that make the approximate kinds look everywhere, so "finds itself" is exact.
PARAMS = {
    "IVF16,Flat": "nprobe=16",
    "IVF16,SQ8": "nprobe=16",
    "IVF16,PQ8x4fs,RFlat": "nprobe=16,k_factor_rf=8",
    OPQ: "nprobe=16,k_factor_rf=8",
    "HNSW16,RFlat": "efSearch=128",
    "BIVF8": "nprobe=8",
    "BHNSW16": "efSearch=128",
}


def unit_vectors(n: int, seed: int = 0, dim: int = DIM) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def codes(n: int, seed: int = 0, bits: int = BITS) -> np.ndarray:
    return to_unit_codes(np.random.default_rng(seed).integers(0, 2, (n, bits)))


def meta(factory: str, *, version: str = "m1") -> IndexMeta:
    binary = factory.startswith("B")
    return IndexMeta("code" if binary else "cnn", BITS if binary else DIM, factory, version, PARAMS.get(factory, ""))


def data(factory: str, n: int = N, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    ids = np.arange(n, dtype=np.int64) * 7 + 1000  # catalog ids are not 0..n-1
    return ids, codes(n, seed) if factory.startswith("B") else unit_vectors(n, seed)


def self_hits(idx: VectorIndex, ids: np.ndarray, vecs: np.ndarray) -> float:
    """Share of items whose own id is the top hit (ties with an identical code count as found)."""
    ids, vecs = ids[:: max(1, len(ids) // 300)], vecs[:: max(1, len(ids) // 300)]
    scores, found = idx.search(vecs, 1)
    own = (vecs * vecs).sum(1)
    return float(np.mean((found[:, 0] == ids) | np.isclose(scores[:, 0], own, atol=1e-5)))


@pytest.fixture(autouse=True)
def one_faiss_thread():
    """faiss trains with one OpenMP thread per core, and OpenMP's spinning threads crawl when
    the cores are shared (a loaded CI box: 0.1 s becomes 30 s); these indexes are tiny."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


@pytest.mark.parametrize("factory", [*FLOAT_KINDS, OPQ, *BINARY_KINDS])
def test_items_are_found_by_their_catalog_id_and_deleted_ones_never_come_back(factory: str) -> None:
    ids, vecs = data(factory)
    idx = new_index(meta(factory))
    idx.add(ids, vecs)
    assert len(idx) == N and np.array_equal(idx.ids(), np.sort(ids))
    assert self_hits(idx, ids, vecs) == 1.0

    gone = ids[::3]
    assert idx.remove(gone) == len(gone)
    kept = np.setdiff1d(ids, gone)
    assert len(idx) == len(kept) and np.array_equal(idx.ids(), kept)
    assert not idx.contains(gone).any() and idx.contains(kept).all()
    _, found = idx.search(vecs[::3], 10)  # the deleted items' own vectors as queries
    assert not np.isin(found, gone).any()
    pos = np.searchsorted(ids, kept)
    assert self_hits(idx, kept, vecs[pos]) == 1.0  # the survivors still carry their own ids

    # Re-adding an id replaces its vector; stored vectors come back as they went in.
    fresh = data(factory, 1, seed=99)[1]
    idx.add(kept[:1], fresh)
    assert len(idx) == len(kept)
    if not factory.startswith(("IVF16,SQ8",)):  # SQ8 stores 8-bit approximations
        np.testing.assert_allclose(idx.reconstruct(kept[:1]), fresh, atol=2e-3)
        np.testing.assert_allclose(idx.reconstruct(kept[1:4]), vecs[pos[1:4]], atol=2e-3)


@pytest.mark.parametrize("factory", FLOAT_KINDS + BINARY_KINDS)
def test_reload_and_memory_mapped_read_answer_the_same(tmp_path: Path, factory: str) -> None:
    ids, vecs = data(factory)
    idx = new_index(meta(factory))
    idx.add(ids, vecs)
    idx.remove(ids[:50])
    path = tmp_path / "7" / f"{meta(factory).descriptor}.faiss"
    idx.save(path)
    want_scores, want = idx.search(vecs[100:120], 5)
    for mmap in (False, True):
        loaded = open_index(path, meta(factory), mmap=mmap)
        assert type(loaded) is type(idx) and len(loaded) == N - 50
        got_scores, got = loaded.search(vecs[100:120], 5)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_allclose(got_scores, want_scores, atol=1e-5)
    with pytest.raises(RuntimeError, match="read-only"):
        loaded.add(ids[:1], vecs[:1])  # a worker's memory-mapped copy is never written
    writable = open_index(path, meta(factory))
    writable.remove(ids[50:60])
    writable.save(path)
    assert len(open_index(path, meta(factory), mmap=True)) == N - 60
    assert not list(path.parent.glob("*.tmp"))


@pytest.mark.parametrize("factory", FLOAT_KINDS + BINARY_KINDS)
def test_allowed_ids_restrict_results_for_every_kind(factory: str) -> None:
    ids, vecs = data(factory)
    idx = new_index(meta(factory))
    idx.add(ids, vecs)
    allowed = ids[200:260]
    _, found = idx.search(vecs[:3], 5, allowed=allowed)
    assert (found >= 0).all() and np.isin(found, allowed).all()
    _, found = idx.search(vecs[230:231], 1, allowed=allowed)
    assert found[0, 0] == ids[230]


@pytest.mark.parametrize("factory", ["IVF16,PQ8x4fs,RFlat", "BIVF8", "IVF16,Flat"])
def test_a_save_that_fails_half_way_keeps_the_previous_index(tmp_path: Path, factory: str, monkeypatch) -> None:
    ids, vecs = data(factory)
    idx = new_index(meta(factory))
    idx.add(ids[:1100], vecs[:1100])
    path = tmp_path / "idx.faiss"
    idx.save(path)
    idx.add(ids[1100:], vecs[1100:])
    idx.remove(ids[:10])
    calls = {"n": 0}
    write = "write_index_binary" if factory.startswith("B") else "write_index"
    real = getattr(faiss, write)

    def crash(index, filename):  # the last file of the save dies half written
        calls["n"] += 1
        if calls["n"] == (2 if isinstance(idx, RerankedIndex) else 1):
            Path(filename).write_bytes(b"partial")
            raise OSError("disk full")
        return real(index, filename)

    monkeypatch.setattr(faiss, write, crash)
    with pytest.raises(OSError, match="disk full"):
        idx.save(path)
    monkeypatch.undo()
    before = open_index(path, meta(factory))
    if isinstance(idx, RerankedIndex):
        # The floats were saved (with the delete), the compressed part was not: searchable is
        # what both parts hold; reconcile re-embeds the rest (next test).
        expected = np.intersect1d(ids[:1100], ids[10:])
    else:
        expected = np.sort(ids[:1100])
    assert np.array_equal(before.ids(), expected)
    pos = np.searchsorted(ids, expected)
    assert self_hits(before, expected, vecs[pos]) == 1.0
    assert not list(tmp_path.glob("*.tmp"))


def test_a_crash_between_the_two_files_of_a_reranked_index_is_repaired_by_reconcile(
    tmp_path: Path, monkeypatch
) -> None:
    """Floats saved, compressed part not: the catalog's pending rows are re-embedded, the
    indexed ones stay, and the floats of items that do not exist are dropped."""
    from backend.engine.catalog.store import Catalog, NewItem

    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    cid = catalog.ensure_collection("c")
    rows = [
        NewItem(
            source_path=f"x/{i}.jpg",
            sha256=f"{i:064x}",
            phash=None,
            title=None,
            width=1,
            height=1,
            format="JPEG",
            media_path=None,
            thumb_path=None,
            labels=(),
            status="pending",
        )
        for i in range(N)
    ]
    ids = np.asarray(catalog.add_items(cid, rows), np.int64)
    vecs = unit_vectors(N)

    class Desc:
        def __init__(self, name: str, dim: int) -> None:
            self.name, self.dim, self.version = name, dim, "v1"

    factory = "IVF16,PQ8x4fs,RFlat"
    store = IndexStore(tmp_path / "indexes", {"cnn": Desc("cnn", DIM)}, factory, params={"cnn": PARAMS[factory]})
    with store.writer(cid) as indexes:
        indexes["cnn"].add(ids[:1000], vecs[:1000])
        store.save(cid, indexes)
    catalog.set_status(ids[:1000].tolist(), "indexed")
    real = faiss.write_index
    calls = {"n": 0}

    def crash(index, filename):
        calls["n"] += 1
        if calls["n"] == 2:  # the floats are on disk, the compressed part is not
            raise OSError("power cut")
        return real(index, filename)

    with store.writer(cid) as indexes:
        indexes["cnn"].add(ids[1000:], vecs[1000:])
        monkeypatch.setattr(faiss, "write_index", crash)
        with pytest.raises(OSError):
            store.save(cid, indexes)
        monkeypatch.undo()
    catalog.delete_item(int(ids[1100]))  # gone meanwhile: its floats must not linger

    with store.writer(cid) as indexes:
        report = store.reconcile(catalog, cid, indexes)
        idx = indexes["cnn"]
        assert report.marked_indexed == 0 and report.marked_pending == 0
        assert set(idx.stored_ids().tolist()) == set(ids[:1000].tolist()) | (set(ids[1000:].tolist()) - {ids[1100]})
        assert np.array_equal(idx.ids(), ids[:1000])  # only what both parts hold is searchable
        # the ingest then re-embeds the pending rows: adding them again completes both parts
        pending = np.asarray(catalog.ids_with_status(cid, "pending"), np.int64)
        idx.add(pending, vecs[np.searchsorted(ids, pending)])
        store.save(cid, indexes)
    on_disk = open_index(store.path(cid, "cnn"), store._meta("cnn"), mmap=True)
    assert np.array_equal(on_disk.ids(), np.sort(np.concatenate([ids[:1000], pending])))
    assert np.array_equal(on_disk.stored_ids(), on_disk.ids())
    catalog.close()


def test_an_ivf_saved_inside_an_id_map_keeps_its_ids_through_deletes(tmp_path: Path) -> None:
    """Before this engine kept IVF ids in the IVF, ``IndexIDMap2(IVF)`` mis-numbered items
    after any delete (faiss's id map assumes the inner index renumbers, which an IVF does not)."""
    ids, vecs = data("IVF16,Flat")
    legacy = faiss.IndexIDMap2(faiss.index_factory(DIM, "IVF16,Flat", faiss.METRIC_INNER_PRODUCT))
    legacy.train(vecs)
    legacy.add_with_ids(vecs, ids)
    path = tmp_path / "cnn.faiss"
    faiss.write_index(legacy, str(path))
    idx = VectorIndex.open(path, meta("IVF16,Flat"))
    assert idx.remove(ids[:100:3]) == len(ids[:100:3])
    assert self_hits(idx, ids[100:], vecs[100:]) == 1.0
    idx.save(path)
    assert self_hits(VectorIndex.open(path, meta("IVF16,Flat"), mmap=True), ids[100:], vecs[100:]) == 1.0


def test_binary_scores_are_one_minus_twice_the_hamming_share() -> None:
    idx = BinaryIndex(meta("BFlat"))
    bits = np.zeros((3, BITS), bool)
    bits[1, :4] = True  # 4 bits away from item 0
    bits[2, :16] = True  # 16 bits away
    idx.add(np.array([10, 11, 12]), to_unit_codes(bits))
    scores, found = idx.search(to_unit_codes(bits[:1]), 3)
    assert found[0].tolist() == [10, 11, 12]
    np.testing.assert_allclose(scores[0], [1.0, 1 - 2 * 4 / BITS, 1 - 2 * 16 / BITS], atol=1e-6)
    # the same numbers as the inner products the search service re-scores with
    np.testing.assert_allclose(
        idx.reconstruct(np.array([10, 11, 12])) @ to_unit_codes(bits[:1])[0], scores[0], atol=1e-6
    )
    assert idx.memory_bytes() == 3 * (BITS // 8 + 48)


def test_bad_configurations_are_refused_with_what_to_do() -> None:
    with pytest.raises(IndexConfigError, match="RFlat"):
        new_index(meta("IVF16,PQ8x4fs"))  # fast-scan cannot give vectors back for re-scoring
    with pytest.raises(IndexConfigError, match="cannot delete"):
        new_index(meta("BHash4x8"))
    with pytest.raises(IndexConfigError, match="BFlat"):
        new_index(meta("BNotAThing"))
    with pytest.raises(IndexConfigError, match="binary"):
        check_factory("code", "Flat", binary=True)
    with pytest.raises(IndexConfigError, match="binary"):
        check_factory("cnn", "BFlat", binary=False)
    with pytest.raises(IndexConfigError, match="NAME=NUMBER"):
        new_index(IndexMeta("cnn", DIM, "IVF16,Flat", "m1", "nprobe:4"))
    with pytest.raises(IndexConfigError, match="does not apply"):
        new_index(IndexMeta("cnn", DIM, "Flat", "m1", "nprobe=4"))
    assert split_refine("IVF16,PQ8,RFlat") == ("IVF16,PQ8", "Flat")
    assert split_refine("IVF16,PQ8,Refine(SQfp16)") == ("IVF16,PQ8", "SQfp16")
    assert split_refine("IVF16,Flat") is None


def test_a_saved_index_opens_as_built_when_the_configured_factory_changes(tmp_path: Path) -> None:
    ids, vecs = data("IVF16,Flat")
    flat = new_index(meta("IVF16,Flat"))
    flat.add(ids, vecs)
    path = tmp_path / "cnn.faiss"
    flat.save(path)
    reopened = open_index(path, meta("IVF16,PQ8x4fs,RFlat"))  # reindex has not run yet
    assert type(reopened) is VectorIndex and reopened.meta.factory == "IVF16,Flat"
    assert len(reopened) == N
