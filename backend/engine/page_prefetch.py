"""Reading a memory-mapped float store's rows in one round of parallel disk reads.

A re-ranked index (:mod:`.reranked_index`) re-scores about a hundred candidates per query
with their exact floats, which workers map from the store file instead of holding them (a
million 1 280-d vectors are 5 GB). Touched one after the other, each candidate's pages fault
in on their own: one disk read, then the next, about 0.14 ms each on this machine's disk, so
a query whose candidates are not in the page cache waits 11-12 ms for 80 of them
(BENCHMARKS.md, design measurements). Telling the kernel first which pages will be needed
(``madvise(MADV_WILLNEED)`` on every candidate's rows) starts all the reads at once; the
gather then waits for the slowest read rather than for their sum (1.6-1.7 ms for the same 80).

On Linux the advice for a whole shortlist is one system call, ``process_madvise`` with a
list of ranges (40 µs for 80 rows already in the page cache, against 125 µs for 80
``madvise`` calls); elsewhere, or where the kernel refuses it, one ``madvise`` per run of
pages. Only memory-mapped stores are advised: a store read into memory has nothing to fetch.
Where the C library offers no ``madvise`` (or the store is not a flat array of rows) nothing
is advised and the rows fault in as before: prefetching changes speed, never results.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import mmap
import os
import threading
from typing import Any

import faiss
import numpy as np

from .index import find_sorted

#: The advice: "these pages will be needed soon" (read them ahead, asynchronously).
MADV_WILLNEED = getattr(mmap, "MADV_WILLNEED", 3)
PAGE = mmap.PAGESIZE

#: Bytes per stored row that the id → row map costs: the sorted ids (8) and their rows (4).
POSITION_BYTES = 12

log = logging.getLogger(__name__)


def _madvise() -> Any:
    """libc's ``madvise``, or None where there is none to call (not a POSIX system)."""
    if os.name != "posix":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        fn = libc.madvise
    except (OSError, AttributeError, TypeError):
        return None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


_MADVISE = _madvise()

#: Linux's syscall numbers on x86-64 and arm64 (the same on both); elsewhere ``madvise`` alone.
_SYS_PIDFD_OPEN, _SYS_PROCESS_MADVISE = 434, 440
#: Ranges one ``process_madvise`` call takes at most (``UIO_MAXIOV``).
_MAX_RANGES = 1024
#: Machines whose syscall numbers those are.
_SYSCALL_MACHINES = ("x86_64", "aarch64")


class _ProcessMadvise:
    """``process_madvise`` on this process: many ranges advised in one system call.

    The pidfd is opened per process (a forked worker must not advise its parent's memory)
    and the call is given up for good, falling back to ``madvise``, the first time the
    kernel refuses it (older than 5.10, seccomp, another architecture).
    """

    def __init__(self) -> None:
        self.usable = os.name == "posix" and os.uname().sysname == "Linux" and os.uname().machine in _SYSCALL_MACHINES
        self._lock = threading.Lock()  # searches run in native threads: one pidfd per process
        self._pid = -1
        self._fd = -1
        self._syscall: Any = None
        if self.usable:
            libc = ctypes.CDLL(None, use_errno=True)
            self._syscall = libc.syscall
            self._syscall.restype = ctypes.c_long

    def __call__(self, ranges: np.ndarray) -> bool:
        """Advise ``ranges`` (rows of (address, length), uint64); False when it could not."""
        if not self.usable:
            return False
        if self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    pid = os.getpid()
                    self._fd = int(self._syscall(ctypes.c_long(_SYS_PIDFD_OPEN), ctypes.c_int(pid), ctypes.c_uint(0)))
                    self._pid = pid
            if self._fd < 0:
                return self._give_up()
        ranges = np.ascontiguousarray(ranges, np.uint64)
        for start in range(0, len(ranges), _MAX_RANGES):
            chunk = ranges[start : start + _MAX_RANGES]
            got = self._syscall(
                ctypes.c_long(_SYS_PROCESS_MADVISE),
                ctypes.c_int(self._fd),
                ctypes.c_void_p(chunk.ctypes.data),  # struct iovec[]: {void *base; size_t len}
                ctypes.c_size_t(len(chunk)),
                ctypes.c_int(MADV_WILLNEED),
                ctypes.c_uint(0),
            )
            if got < 0:
                return self._give_up()
        return True

    def _give_up(self) -> bool:
        log.info("process_madvise unavailable (errno %d): advising with madvise", ctypes.get_errno())
        self.usable = False
        return False


_PROCESS_MADVISE = _ProcessMadvise()


class MappedRows:
    """Where each id's row lies in a memory-mapped ``IndexIDMap2`` over a flat code array
    (``Flat``, ``SQfp16``), and the advice that reads a batch of rows at once."""

    def __init__(self, index: Any) -> None:
        inner = faiss.downcast_index(index.index)
        self.code_size = int(inner.code_size)
        n = int(inner.ntotal)
        # The mapped codes' address (a view taken for it and dropped: nothing reads through it).
        self._base = int(faiss.rev_swig_ptr(inner.codes.data(), max(1, n * self.code_size)).ctypes.data)
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
        rows = cls(index)
        # One advice up front: where the kernel refuses it, say so once rather than lose the
        # speed-up silently on every query.
        if _MADVISE(rows._base // PAGE * PAGE, PAGE, MADV_WILLNEED) != 0:
            log.warning("madvise(MADV_WILLNEED) refused (errno %d): shortlists are read row by row", ctypes.get_errno())
            return None
        return rows

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """Row numbers of ``ids`` in the code array (ids not stored are left out)."""
        pos, held = find_sorted(self._sorted, np.asarray(ids, np.int64).reshape(-1))
        return np.asarray(self._rows[pos[held]], np.int64)

    def contains(self, ids: np.ndarray) -> np.ndarray:
        """Which of ``ids`` the store holds (what ``VectorIndex.contains`` answers, without
        a second sorted copy of the ids)."""
        return find_sorted(self._sorted, np.asarray(ids, np.int64).reshape(-1))[1]

    def prefetch(self, ids: np.ndarray) -> int:
        """Ask the kernel to read the pages of ``ids``' rows now, all together; returns how many
        page runs were advised (0 when none). Never blocks on the reads themselves."""
        rows = self.rows(ids)
        if not len(rows) or _MADVISE is None:
            return 0
        starts = np.sort(self._base + rows * self.code_size)
        first = starts // PAGE
        last = np.maximum.accumulate((starts + self.code_size - 1) // PAGE)
        # Overlapping or touching page ranges become one range (neighbouring rows share pages).
        new_run = np.concatenate([[True], first[1:] > last[:-1] + 1])
        run_first = first[new_run]
        run_last = last[np.concatenate([np.flatnonzero(new_run)[1:] - 1, [len(last) - 1]])]
        ranges = np.stack([run_first * PAGE, (run_last - run_first + 1) * PAGE], axis=1).astype(np.uint64)
        if not _PROCESS_MADVISE(ranges):
            for address, length in ranges.tolist():
                _MADVISE(address, length, MADV_WILLNEED)
        return len(ranges)

    def memory_bytes(self) -> int:
        return len(self._sorted) * POSITION_BYTES
