"""Big collections without embedding big image sets: real-ish vectors written through the engine.

Ingesting 10 000 (or 100 000) real images takes far too long on 2 cores, and latency and
memory do not depend on where the vectors came from, only on how many there are and how
they are distributed (the latter matters for approximate indexes). So a benchmark collection
is a few hundred really ingested images plus synthetic items: catalog rows (status
``indexed``) added through :meth:`Catalog.add_items`, and vectors added through the engine's
own :class:`IndexStore` / :class:`VectorIndex`, saved the way ingest saves them.

The synthetic vectors are *real-ish*: each is a real embedding (WikiArt, CIFAR, or generated
paintings) mixed with a second real one and Gaussian noise, then re-normalised, so they keep
the clustered, anisotropic shape of real embeddings (pure random unit vectors in 1 280-d are
all nearly orthogonal, which flatters approximate indexes).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from backend.engine.catalog.store import NewItem


def realish_vectors(
    bases: np.ndarray,
    n: int,
    rng: np.random.Generator,
    *,
    noise: float = 0.5,
    mix: float = 0.3,
    nonnegative: bool = False,
    chunk: int = 20_000,
) -> np.ndarray:
    """``n`` unit vectors: base_i + mix·(base_j − base_i) + noise·g/√d, normalised (rows, float32)."""
    bases = np.asarray(bases, np.float32)
    m, d = bases.shape
    out = np.empty((n, d), np.float32)
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        i = rng.integers(0, m, e - s)
        j = rng.integers(0, m, e - s)
        w = rng.uniform(0, mix, (e - s, 1)).astype(np.float32)
        v = bases[i] * (1 - w) + bases[j] * w
        v += rng.standard_normal((e - s, d), dtype=np.float32) * (noise / np.sqrt(d))
        if nonnegative:
            np.abs(v, out=v)
        v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        out[s:e] = v
    return out


def add_synthetic_items(
    engine: Any,
    collection: str,
    vectors: dict[str, np.ndarray],
    *,
    labels: list[str] | None = None,
    chunk: int = 5000,
    prefix: str = "synthetic",
    progress: Any = None,
    count: int | None = None,
) -> np.ndarray:
    """Catalog rows + index vectors for ``len(vectors[...])`` synthetic items; returns their ids.

    Rows are inserted as ``indexed`` (vectors are saved before this returns, so the catalog
    never claims a vector the index lacks for longer than this call). With empty ``vectors``
    and a ``count``, only rows are made (the caller writes indexes itself, e.g. one per factory).
    """
    n = len(next(iter(vectors.values()))) if vectors else int(count or 0)
    cid = engine.catalog.ensure_collection(collection)
    ids: list[int] = []
    for s in range(0, n, chunk):
        rows = [
            NewItem(
                source_path=f"{prefix}/{i:07d}.jpg",
                sha256=hashlib.sha256(f"{prefix}-{i}".encode()).hexdigest(),
                phash=None,
                title=None,
                width=224,
                height=224,
                format="JPEG",
                media_path=None,
                thumb_path=None,
                labels=(labels[i % len(labels)],) if labels else (),
                status="indexed",
            )
            for i in range(s, min(n, s + chunk))
        ]
        ids += engine.catalog.add_items(cid, rows)
        if progress is not None:
            progress(len(rows))
    id_arr = np.asarray(ids, np.int64)
    if vectors:
        add_vectors(engine.index_store, cid, id_arr, vectors)
    return id_arr


def add_vectors(
    index_store: Any, cid: int, ids: np.ndarray, vectors: dict[str, np.ndarray], chunk: int = 50_000
) -> None:
    """Add vectors to the collection's saved indexes (one writer lock, one atomic save).

    The first chunk is large (≥ 1 000) so factories that need training (SQ8, PCA, IVF) train on it.
    """
    with index_store.writer(cid, timeout=60.0) as indexes:
        for name, vecs in vectors.items():
            for s in range(0, len(ids), chunk):
                indexes[name].add(ids[s : s + chunk], vecs[s : s + chunk])
        index_store.save(cid, indexes)
