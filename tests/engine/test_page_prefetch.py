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

import faiss
import numpy as np
import pytest

from backend.engine import page_prefetch
from backend.engine.index import ID_BYTES, IndexMeta
from backend.engine.index_kinds import new_index, open_index
from backend.engine.page_prefetch import POSITION_BYTES, MappedRows
from backend.engine.reranked_index import RerankedIndex
from benchmarks.million_items import evict_from_page_cache  # what the million-item bench evicts with

LINUX = pytest.mark.skipif(
    sys.platform != "linux" or not hasattr(os, "posix_fadvise"),
    reason="evicting and checking the page cache is Linux's",
)
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


@LINUX
@pytest.mark.parametrize("one_call", [True, False], ids=["process_madvise", "madvise per run"])
def test_a_shortlist_is_read_into_the_page_cache_before_it_is_touched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_call: bool
) -> None:
    if not one_call:  # a kernel without process_madvise: one madvise per run of pages
        monkeypatch.setattr(page_prefetch._PROCESS_MADVISE, "usable", False)
    path, ids, vecs = _saved(tmp_path)
    store_path = RerankedIndex.store_path(path)
    evict_from_page_cache([store_path])
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
    evict_from_page_cache([store_path])
    if _resident_pages(store_path)[sorted(wanted_pages)].any():
        pytest.skip("the wanted rows' pages stay cached (large pages share them with what the open read)")

    assert rows.prefetch(wanted) == 4  # rows 5 and 6 share a page: one run for them
    deadline = time.monotonic() + 20  # the reads are asynchronous: wait for them, not a fixed time
    resident = _resident_pages(store_path)
    while not resident[sorted(wanted_pages)].all() and time.monotonic() < deadline:
        time.sleep(0.01)
        resident = _resident_pages(store_path)
    assert resident[sorted(wanted_pages)].all(), "the wanted rows' pages were not read"
    # ...and not the whole file: pages far from every wanted row stay on disk.
    far = [p for p in range(len(resident)) if min(abs(p - w) for w in wanted_pages) > 64]
    assert resident[far].mean() < 0.5
    if one_call and not page_prefetch._PROCESS_MADVISE.usable:
        pytest.skip("this kernel refuses process_madvise: the rows were advised one run at a time")


def test_mapped_rows_name_the_row_of_every_catalog_id(tmp_path: Path) -> None:
    path, ids, vecs = _saved(tmp_path)
    index = open_index(path, _meta(), mmap=True)
    assert isinstance(index, RerankedIndex)
    rows = MappedRows.of(index.store._index)
    assert rows is not None
    pick = np.array([3, 0, 2999, 1234])
    got = rows.rows(np.concatenate([ids[pick], [5, 10**12]]))  # two ids the store never held
    assert len(got) == len(pick)
    flat = faiss.downcast_index(index.store._index.index)  # the mapped array, by row number
    for row, i in zip(got, pick):
        np.testing.assert_array_equal(flat.reconstruct(int(row)), vecs[i])
    assert rows.contains(np.array([ids[0], 5, ids[-1]])).tolist() == [True, False, True]


@LINUX
def test_the_search_answers_the_same_with_the_store_mapped_cold(tmp_path: Path) -> None:
    path, ids, vecs = _saved(tmp_path)
    in_memory = open_index(path, _meta())
    evict_from_page_cache([RerankedIndex.store_path(path)])
    mapped = open_index(path, _meta(), mmap=True)
    queries = vecs[::97] + 0.01
    a = in_memory.search(queries, 10)
    b = mapped.search(queries, 10)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_allclose(a[0], b[0], rtol=1e-6)


def test_a_reranked_index_counts_what_its_float_store_keeps_in_memory(tmp_path: Path) -> None:
    path, _, _ = _saved(tmp_path)
    writer = open_index(path, _meta())
    base = N * (writer.code_bytes() + 8)  # the compressed codes and their ids (no direct map)
    store_ids = N * ID_BYTES  # the float store's ids and id map
    assert writer.memory_bytes() == base + store_ids + N * DIM * 4  # a writer holds the floats too
    mapped = open_index(path, _meta(), mmap=True)
    assert mapped.memory_bytes() == base + store_ids + N * POSITION_BYTES  # a worker maps them


def test_which_items_a_reranked_index_holds_is_answered_without_listing_them_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A search asks ``contains`` of its hits; listing every id of both parts to answer it
    cost 0.1 s per call at a million items."""
    path, ids, _ = _saved(tmp_path)
    for mmap_ in (False, True):
        index = open_index(path, _meta(), mmap=mmap_)
        assert isinstance(index, RerankedIndex)
        expected = np.isin([ids[0], 5, ids[-1], 10**12], index.ids())
        monkeypatch.setattr(RerankedIndex, "ids", lambda self: pytest.fail("contains listed every id"))
        assert index.contains(np.array([ids[0], 5, ids[-1], 10**12])).tolist() == expected.tolist()
        monkeypatch.undo()
    # an id only the float store holds (a crash between the two saves) is not held
    writer = open_index(path, _meta())
    assert isinstance(writer, RerankedIndex)
    writer.store.add(np.array([77], np.int64), np.ones((1, DIM), np.float32) / np.sqrt(DIM))
    assert writer.contains(np.array([77, ids[0]])).tolist() == [False, True]


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
