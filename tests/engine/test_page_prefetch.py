"""A re-ranked index's memory-mapped float store: its shortlist's rows are asked of the disk
together (``backend/engine/page_prefetch.py``), and what the store costs in memory is counted.

The page cache is checked with ``mincore``, as ``fincore`` (util-linux) does: which pages of
the store file are resident, without reading them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from backend.engine.index import ID_BYTES, IndexMeta
from backend.engine.index_kinds import new_index, open_index
from backend.engine.page_prefetch import POSITION_BYTES, MappedRows
from backend.engine.reranked_index import RerankedIndex

DIM = 1280  # a row is 5 120 bytes: most rows straddle two pages
N = 3000
FACTORY = "IVF16,PQ8x4fs,RFlat"


def _meta() -> IndexMeta:
    return IndexMeta("cnn", DIM, FACTORY, "test", "nprobe=16,k_factor_rf=8")


def _saved(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((N, DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = np.arange(N, dtype=np.int64) * 7 + 1000  # catalog ids are not row numbers
    idx = new_index(_meta())
    idx.add(ids, vecs)
    path = tmp_path / "cnn.faiss"
    idx.save(path)
    return path, ids, vecs


def _evict(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _resident_pages(path: Path) -> np.ndarray:
    """Which pages of ``path`` are in the page cache (``mincore`` on a mapping never read)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    size = path.stat().st_size
    pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, prot=mmap.PROT_READ) as m:
        addr = np.frombuffer(m, np.uint8).ctypes.data
        vec = (ctypes.c_ubyte * pages)()
        if libc.mincore(ctypes.c_void_p(addr), ctypes.c_size_t(size), vec) != 0:
            raise OSError(ctypes.get_errno(), "mincore failed")
        resident: np.ndarray = np.frombuffer(bytes(vec), np.uint8) & 1 == 1
        return resident


@pytest.mark.skipif(sys.platform != "linux", reason="mincore and the page cache checks are Linux's")
def test_a_shortlist_is_read_into_the_page_cache_before_it_is_touched(tmp_path: Path) -> None:
    path, ids, vecs = _saved(tmp_path)
    store_path = RerankedIndex.store_path(path)
    _evict(store_path)
    if _resident_pages(store_path).mean() > 0.05:
        pytest.skip("this file system keeps the store's pages cached after POSIX_FADV_DONTNEED (tmpfs?)")
    index = open_index(path, _meta(), mmap=True)
    assert isinstance(index, RerankedIndex)
    rows = MappedRows.of(index.store._index)
    assert rows is not None
    wanted = ids[[5, 6, 700, 1500, 2900]]  # not the last row: its page also holds the id map, read at open
    # Where the wanted vectors lie in the file: found by their bytes, not by the code under test.
    data = store_path.read_bytes()
    offsets = [data.find(vecs[i].tobytes()) for i in (5, 6, 700, 1500, 2900)]
    assert min(offsets) > 0
    wanted_pages = {p for o in offsets for p in range(o // mmap.PAGESIZE, (o + DIM * 4 - 1) // mmap.PAGESIZE + 1)}
    del data
    _evict(store_path)
    assert not _resident_pages(store_path)[sorted(wanted_pages)].any()

    assert rows.prefetch(wanted) >= 1
    deadline = time.monotonic() + 20  # the reads are asynchronous: wait for them, not a fixed time
    resident = _resident_pages(store_path)
    while not resident[sorted(wanted_pages)].all() and time.monotonic() < deadline:
        time.sleep(0.01)
        resident = _resident_pages(store_path)
    assert resident[sorted(wanted_pages)].all(), "the wanted rows' pages were not read"
    # ...and not the whole file: pages far from every wanted row stay on disk.
    far = [p for p in range(len(resident)) if min(abs(p - w) for w in wanted_pages) > 64]
    assert resident[far].mean() < 0.5


def test_mapped_rows_name_the_row_of_every_catalog_id(tmp_path: Path) -> None:
    path, ids, vecs = _saved(tmp_path)
    index = open_index(path, _meta(), mmap=True)
    assert isinstance(index, RerankedIndex)
    rows = MappedRows.of(index.store._index)
    assert rows is not None
    pick = np.array([3, 0, 2999, 1234])
    got = rows.rows(np.concatenate([ids[pick], [5, 10**12]]))  # two ids the store never held
    assert len(got) == len(pick)
    codes = rows._codes
    for row, i in zip(got, pick):
        stored = np.frombuffer(codes[row * rows.code_size : (row + 1) * rows.code_size].tobytes(), np.float32)
        np.testing.assert_array_equal(stored, vecs[i])
    assert rows.contains(np.array([ids[0], 5, ids[-1]])).tolist() == [True, False, True]


def test_the_search_answers_the_same_with_the_store_mapped_cold(tmp_path: Path) -> None:
    path, ids, vecs = _saved(tmp_path)
    in_memory = open_index(path, _meta())
    _evict(RerankedIndex.store_path(path))
    mapped = open_index(path, _meta(), mmap=True)
    queries = vecs[::97] + 0.01
    a = in_memory.search(queries, 10)
    b = mapped.search(queries, 10)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_allclose(a[0], b[0], rtol=1e-6)


def test_a_reranked_index_counts_what_its_float_store_keeps_in_memory(tmp_path: Path) -> None:
    path, _, _ = _saved(tmp_path)
    writer = open_index(path, _meta())
    codes = N * (writer.code_bytes() + ID_BYTES)  # the compressed index and its ids
    assert writer.memory_bytes() == codes + N * ID_BYTES  # + the float store's ids and id map
    mapped = open_index(path, _meta(), mmap=True)
    assert mapped.memory_bytes() == codes + N * ID_BYTES + N * POSITION_BYTES


def test_a_search_on_a_mapped_store_asks_for_its_whole_shortlist_before_reading_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, ids, vecs = _saved(tmp_path)
    index = open_index(path, _meta(), mmap=True)
    assert isinstance(index, RerankedIndex)
    events: list[tuple[str, set[int]]] = []
    prefetch, reconstruct = MappedRows.prefetch, index.store.reconstruct

    def advised(self: MappedRows, got: np.ndarray) -> int:
        events.append(("advised", set(got.tolist())))
        return prefetch(self, got)

    def read(got: np.ndarray) -> np.ndarray:
        events.append(("read", set(got.tolist())))
        return reconstruct(got)

    monkeypatch.setattr(MappedRows, "prefetch", advised)
    monkeypatch.setattr(index.store, "reconstruct", read)
    index.search(vecs[:2], 10)
    assert [e[0] for e in events] == ["advised", "read", "read"]  # one advice for both queries' shortlists
    assert events[1][1] | events[2][1] <= events[0][1]
    assert len(events[1][1]) >= 80  # the shortlist: k × k_factor_rf
