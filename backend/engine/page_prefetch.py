"""Reading a memory-mapped float store's rows in one round of parallel disk reads.

A re-ranked index (:mod:`.reranked_index`) re-scores about a hundred candidates per query
with their exact floats, which workers map from the store file instead of holding them (a
million 1 280-d vectors are 5 GB). Touched one after the other, each candidate's pages fault
in on their own: one disk read, then the next, about 0.14 ms each on this machine's disk, so
a query whose candidates are not in the page cache waits 11-12 ms for 80 of them
(BENCHMARKS.md, design measurements). Telling the kernel first which pages will be needed
(``madvise(MADV_WILLNEED)`` on every candidate's rows) starts all the reads at once; the
gather then waits for the slowest read rather than for their sum (1.6-1.7 ms for the same 80).

Only memory-mapped stores are advised: a store read into memory has nothing to fetch. Where
the C library offers no ``madvise`` (or the store is not a flat array of rows) nothing is
advised and the rows fault in as before: prefetching changes speed, never results.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
from typing import Any

import faiss
import numpy as np

#: The advice: "these pages will be needed soon" (read them ahead, asynchronously).
MADV_WILLNEED = getattr(mmap, "MADV_WILLNEED", 3)
PAGE = mmap.PAGESIZE

#: Bytes per stored row that the id → row map costs: the sorted ids (8) and their rows (4).
POSITION_BYTES = 12


def _madvise() -> Any:
    """libc's ``madvise``, or None where there is none to call."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        fn = libc.madvise
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


_MADVISE = _madvise()


class MappedRows:
    """Where each id's row lies in a memory-mapped ``IndexIDMap2`` over a flat code array
    (``Flat``, ``SQfp16``), and the advice that reads a batch of rows at once."""

    def __init__(self, index: Any) -> None:
        inner = faiss.downcast_index(index.index)
        self.code_size = int(inner.code_size)
        n = int(inner.ntotal)
        # A view of the mapped codes, for their address only: nothing is read through it.
        self._codes = faiss.rev_swig_ptr(inner.codes.data(), n * self.code_size)
        self._base = int(self._codes.ctypes.data)
        self._end = self._base + n * self.code_size
        ids = faiss.vector_to_array(index.id_map).astype(np.int64, copy=False)
        order = np.argsort(ids, kind="stable")
        self._sorted = ids[order]
        self._rows = order.astype(np.int32 if n < 2**31 else np.int64)
        self._owner = index  # the mapping lives as long as the faiss index: keep it alive

    @classmethod
    def of(cls, index: Any) -> MappedRows | None:
        """Rows of a mapped store, or None when there is nothing this can advise on."""
        if _MADVISE is None or not isinstance(index, faiss.IndexIDMap2) or index.ntotal == 0:
            return None
        inner = faiss.downcast_index(index.index)
        if not isinstance(inner, faiss.IndexFlatCodes):
            return None
        return cls(index)

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """Row numbers of ``ids`` in the code array (ids not stored are left out)."""
        ids = np.asarray(ids, np.int64).reshape(-1)
        if not len(self._sorted) or not len(ids):
            return np.zeros(0, np.int64)
        pos = np.minimum(np.searchsorted(self._sorted, ids), len(self._sorted) - 1)
        return np.asarray(self._rows[pos[self._sorted[pos] == ids]], np.int64)

    def contains(self, ids: np.ndarray) -> np.ndarray:
        """Which of ``ids`` the store holds (what ``VectorIndex.contains`` answers, without
        a second sorted copy of the ids)."""
        ids = np.asarray(ids, np.int64).reshape(-1)
        if not len(self._sorted):
            return np.zeros(ids.shape, bool)
        pos = np.minimum(np.searchsorted(self._sorted, ids), len(self._sorted) - 1)
        return np.asarray(self._sorted[pos] == ids)

    def prefetch(self, ids: np.ndarray) -> int:
        """Ask the kernel to read the pages of ``ids``' rows now, all together; returns how many
        page runs were advised (0 when none). Never blocks on the reads themselves."""
        rows = self.rows(ids)
        if not len(rows) or _MADVISE is None:
            return 0
        starts = np.sort(self._base + rows * self.code_size)
        first = starts // PAGE
        last = (starts + self.code_size - 1) // PAGE
        # Overlapping or touching page ranges become one call (neighbouring rows share pages).
        runs = 0
        run_first, run_last = int(first[0]), int(last[0])
        for lo, hi in zip(first[1:].tolist(), last[1:].tolist()):
            if lo <= run_last + 1:
                run_last = max(run_last, hi)
                continue
            self._advise(run_first, run_last)
            runs += 1
            run_first, run_last = lo, hi
        self._advise(run_first, run_last)
        return runs + 1

    @staticmethod
    def _advise(first_page: int, last_page: int) -> None:
        assert _MADVISE is not None
        _MADVISE(first_page * PAGE, (last_page - first_page + 1) * PAGE, MADV_WILLNEED)

    def memory_bytes(self) -> int:
        return len(self._sorted) * POSITION_BYTES
