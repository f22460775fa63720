"""Child process for the million-item figures: open one saved index as a worker does, search, report.

Run as ``python -m benchmarks.million_probe INDEX_PATH META_JSON QUERIES_NPY OUT_NPY``; prints
one JSON object on stdout. A fresh process is the only honest way to measure a worker's
resident memory and start-up, and the steps are a worker's: faiss on one thread (as
``backend.serve`` sets it), the index memory-mapped through the engine's
:func:`~backend.engine.index_kinds.open_index`, then one query at a time. The parent evicts the
index files from the page cache before starting this process, so the start is cold.

``RssFile`` is the part of the resident memory that is the mapped index file's pages: the
kernel can drop them under pressure and re-read them, unlike ``RssAnon``.
"""

from __future__ import annotations

import json
import sys
import time


def _status_mb() -> dict[str, float]:
    out: dict[str, float] = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[key] = int(value.split()[0]) / 1024
    return out


def main(argv: list[str]) -> int:
    path, meta_json, queries_npy, out_npy = argv
    t_start = time.perf_counter()
    import faiss
    import numpy as np

    from backend.engine.index import IndexMeta
    from backend.engine.index_kinds import open_index

    faiss.omp_set_num_threads(1)
    base = _status_mb()
    meta = IndexMeta(**json.loads(meta_json))
    queries = np.load(queries_npy)
    k = 10
    t0 = time.perf_counter()
    index = open_index(path, meta, mmap=True)
    opened = time.perf_counter() - t0
    index.search(queries[:1], k)
    first = time.perf_counter() - t0
    found = np.zeros((len(queries), k), np.int64)
    times = []
    for i in range(len(queries)):
        t = time.perf_counter()
        _, ids = index.search(queries[i : i + 1], k)
        times.append((time.perf_counter() - t) * 1000)
        found[i, : ids.shape[1]] = ids[0]
    np.save(out_npy, found)
    print(
        json.dumps(
            {
                "open_s": opened,
                "first_query_s": first,
                "imports_s": t0 - t_start,
                "ms": times,
                "rss_mb": _status_mb(),
                "rss_before_open_mb": base,
                "ntotal": len(index),
                "memory_bytes": index.memory_bytes(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
