"""FAISS indexes: add, remove, search, filter, persist atomically, refuse a mismatched model."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from backend.engine.index import IndexConfigError, IndexMeta, VectorIndex
from backend.engine.index_store import CollectionBusy, IndexStore

DIM = 16


def unit_vectors(n: int, seed: int = 0, dim: int = DIM) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def meta(factory: str = "Flat", version: str = "m1", dim: int = DIM) -> IndexMeta:
    return IndexMeta(descriptor="cnn", dim=dim, factory=factory, model_version=version)


@pytest.fixture
def filled() -> tuple[VectorIndex, np.ndarray, np.ndarray]:
    ids = np.arange(100, 160, dtype=np.int64) * 7  # catalog ids are not 0..n-1
    vecs = unit_vectors(len(ids))
    idx = VectorIndex(meta())
    idx.add(ids, vecs)
    return idx, ids, vecs


def top_ids(idx: VectorIndex, q: np.ndarray, k: int, **kw: object) -> list[int]:
    _, ids = idx.search(q, k, **kw)
    return [int(i) for i in ids[0] if i >= 0]


def test_each_vector_finds_itself_first_by_its_catalog_id(filled) -> None:
    idx, ids, vecs = filled
    scores, found = idx.search(vecs, 3)
    np.testing.assert_array_equal(found[:, 0], ids)
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)
    assert np.all(scores[:, 0] >= scores[:, 1])
    assert len(idx) == len(ids) and idx.contains(ids).all()
    # k larger than the index: every item once, no padding ids
    assert sorted(top_ids(idx, vecs[0], 1000)) == sorted(ids.tolist())


def test_re_adding_an_id_replaces_its_vector(filled) -> None:
    idx, ids, vecs = filled
    new = unit_vectors(1, seed=99)
    idx.add(ids[:1], new)
    assert len(idx) == len(ids)
    assert top_ids(idx, new, 1) == [int(ids[0])]
    np.testing.assert_allclose(idx.reconstruct(ids[:1]), new, atol=1e-6)


def test_removed_items_are_never_returned(filled) -> None:
    idx, ids, vecs = filled
    gone = ids[::3]
    assert idx.remove(gone) == len(gone)
    assert len(idx) == len(ids) - len(gone)
    for q in vecs:
        assert not set(top_ids(idx, q, 10)) & set(gone.tolist())
    assert idx.remove(np.array([123456789])) == 0


def test_allowed_ids_restrict_results(filled) -> None:
    idx, ids, vecs = filled
    allowed = ids[10:20]
    got = top_ids(idx, vecs[0], 5, allowed=allowed)  # the query's own id is not allowed
    assert len(got) == 5 and set(got) <= set(allowed.tolist())
    # and they are the best 5 of the allowed ones
    sims = vecs[10:20] @ vecs[0]
    assert got == [int(i) for i in allowed[np.argsort(-sims)[:5]]]
    assert top_ids(idx, vecs[0], 5, allowed=np.array([], np.int64)) == []


def test_hnsw_index_can_remove_through_the_rebuild_fallback() -> None:
    ids = np.arange(1, 81, dtype=np.int64)
    vecs = unit_vectors(len(ids), seed=3)
    idx = VectorIndex(meta("HNSW32"))
    idx.add(ids, vecs)
    with pytest.raises(RuntimeError):  # what the fallback exists for
        faiss.IndexIDMap2(faiss.IndexHNSWFlat(DIM, 32)).remove_ids(np.array([1], np.int64))
    assert idx.remove(ids[:10]) == 10
    assert len(idx) == 70
    assert set(idx.ids().tolist()) == set(ids[10:].tolist())
    assert top_ids(idx, vecs[0], 5)[0] != 1
    assert top_ids(idx, vecs[40], 1) == [41]
    assert "HNSW" in type(faiss.downcast_index(idx._index.index)).__name__  # still the configured kind


def test_bad_factories_and_dimensions_give_clear_errors() -> None:
    with pytest.raises(IndexConfigError, match="NotAnIndex"):
        VectorIndex(meta("NotAnIndex"))
    ivf = VectorIndex(meta("IVF16,Flat"))
    with pytest.raises(IndexConfigError, match="training"):
        ivf.add(np.arange(10), unit_vectors(10))
    with pytest.raises(ValueError, match="dim"):
        VectorIndex(meta()).add(np.arange(3), unit_vectors(3, dim=DIM + 1))


def test_save_and_load_round_trip(tmp_path: Path, filled) -> None:
    idx, ids, vecs = filled
    path = tmp_path / "7" / "cnn.faiss"
    idx.save(path)
    loaded = VectorIndex.open(path, meta())
    assert len(loaded) == len(ids)
    assert top_ids(loaded, vecs[5], 1) == [int(ids[5])]
    assert not list(path.parent.glob("*.tmp"))  # nothing left behind


def test_a_leftover_temp_file_never_breaks_loading(tmp_path: Path, filled) -> None:
    idx, ids, vecs = filled
    path = tmp_path / "cnn.faiss"
    idx.save(path)
    # What a crash in the middle of a save leaves: a half-written temp file beside the index.
    (tmp_path / ".cnn.faiss.abc123.tmp").write_bytes(b"\x00garbage" * 100)
    (tmp_path / ".cnn.json.abc123.tmp").write_text("{not json")
    loaded = VectorIndex.open(path, meta())
    assert len(loaded) == len(ids)
    loaded.add(np.array([1], np.int64), unit_vectors(1, seed=5))
    loaded.save(path)
    assert len(VectorIndex.open(path, meta())) == len(ids) + 1


def test_a_save_that_fails_half_way_keeps_the_previous_index(tmp_path: Path, filled, monkeypatch) -> None:
    idx, ids, vecs = filled
    path = tmp_path / "cnn.faiss"
    idx.save(path)
    before = path.read_bytes()
    idx.add(np.array([1], np.int64), unit_vectors(1, seed=5))

    def crash(index, filename):
        Path(filename).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(faiss, "write_index", crash)
    with pytest.raises(OSError, match="disk full"):
        idx.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert len(VectorIndex.open(path, meta())) == len(ids)
    assert not list(tmp_path.glob("*.tmp"))


def test_an_index_built_with_another_model_is_refused(tmp_path: Path, filled) -> None:
    idx, *_ = filled
    path = tmp_path / "cnn.faiss"
    idx.save(path)
    with pytest.raises(IndexConfigError) as err:
        VectorIndex.open(path, meta(version="m2"))
    assert "m1" in str(err.value) and "m2" in str(err.value) and "reindex" in str(err.value)
    with pytest.raises(IndexConfigError, match="dim"):
        VectorIndex.open(path, meta(dim=DIM * 2))


class _FakeDescriptor:
    def __init__(self, name: str, dim: int, version: str = "v1") -> None:
        self.name, self.dim, self._version = name, dim, version

    @property
    def version(self) -> str:
        return self._version


def _store(index_dir: Path, factory: str = "Flat") -> IndexStore:
    return IndexStore(index_dir, {"cnn": _FakeDescriptor("cnn", DIM), "color": _FakeDescriptor("color", 8)}, factory)


def test_a_reader_sees_what_another_process_saved(tmp_path: Path) -> None:
    reader, writer = _store(tmp_path), _store(tmp_path)
    assert len(reader.get(1, "cnn")) == 0  # no file yet: empty, not an error
    vecs = unit_vectors(3)
    with writer.writer(1) as indexes:
        indexes["cnn"].add(np.array([10, 11, 12]), vecs)
        indexes["color"].add(np.array([10, 11, 12]), unit_vectors(3, dim=8))
        writer.save(1, indexes)
    fresh = reader.get(1, "cnn")
    assert len(fresh) == 3 and top_ids(fresh, vecs[2], 1) == [12]
    assert reader.get(1, "cnn") is fresh  # unchanged file: no reload
    assert reader.get(1, "color").meta.factory == "Flat"  # only cnn follows the configured factory


def test_only_one_writer_per_collection(tmp_path: Path) -> None:
    a, b = _store(tmp_path), _store(tmp_path)
    with a.writer(1):
        with pytest.raises(CollectionBusy, match="another process"):
            with b.writer(1, timeout=0.2):
                pass
        with b.writer(2, timeout=0.2):  # other collections are not blocked
            pass
    with b.writer(1, timeout=0.2):  # released afterwards
        pass
