"""Run small faiss searches on one thread.

faiss parallelises a search over its queries with OpenMP. For the searches recognition makes
(a few hundred descriptors against a few thousand) the threads cost more than they save,
and when the machine is busy OpenMP's spinning threads make such a search many times
slower than on one thread. The serving process runs faiss on one thread anyway
(:func:`backend.serve.limit_library_threads`); this keeps the CLI's ingest and search, which
keep faiss's default for training, from paying that price.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import faiss

__all__ = ["one_faiss_thread"]


@contextmanager
def one_faiss_thread() -> Iterator[None]:
    """faiss on one OpenMP thread inside the block, as many as before after it."""
    before = faiss.omp_get_max_threads()
    if before == 1:
        yield
        return
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)
