"""One FAISS index per (collection, descriptor), persisted beside the catalog.

The index is named by a faiss ``index_factory`` string (``"Flat"``, ``"HNSW32"``,
``"IVF256,SQ8"`` …) and always wrapped in ``IndexIDMap2`` so vectors carry catalog item ids:
add and delete by id without rebuilding, and ``reconstruct`` for exact re-scoring and
"related items". Saves are atomic (temp file + rename) so a reader, or a crash, never sees
half an index. Vectors are L2-normalised and compared by inner product (= cosine).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np


class IndexConfigError(ValueError):
    """The index factory string is not one faiss understands (or needs training data we lack)."""


@dataclass(frozen=True)
class IndexMeta:
    descriptor: str
    dim: int
    factory: str
    model_version: str

    def to_dict(self) -> dict[str, object]:
        return {
            "descriptor": self.descriptor,
            "dim": self.dim,
            "factory": self.factory,
            "model_version": self.model_version,
        }


class VectorIndex:
    """Thread-safe wrapper: FAISS searches may run concurrently, mutations take the lock."""

    def __init__(self, meta: IndexMeta, index: faiss.Index | None = None) -> None:
        self.meta = meta
        self._lock = threading.RLock()
        self._index = index if index is not None else self._new_index()
        self.loaded_mtime: float = 0.0

    def _new_index(self) -> faiss.Index:
        try:
            inner = faiss.index_factory(self.meta.dim, self.meta.factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise IndexConfigError(f"faiss cannot build index {self.meta.factory!r}: {exc}") from exc
        return faiss.IndexIDMap2(inner)

    # -- mutation -------------------------------------------------------------------------
    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.meta.dim:
            raise ValueError(f"expected vectors of dim {self.meta.dim}, got {vectors.shape}")
        if len(ids) == 0:
            return
        with self._lock:
            present = self.contains(ids)
            if present.any():  # re-adding an id replaces its vector (idempotent resume)
                self._index.remove_ids(ids[present])
            if not self._index.is_trained:
                if len(vectors) < 1000:
                    raise IndexConfigError(
                        f"index {self.meta.factory!r} needs training; add at least 1000 vectors in the first batch "
                        "or use a factory that needs none (Flat, HNSW32, SQ8)"
                    )
                self._index.train(vectors)
            self._index.add_with_ids(vectors, ids)

    def remove(self, ids: np.ndarray) -> int:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        with self._lock:
            try:
                return int(self._index.remove_ids(ids))
            except RuntimeError:
                # e.g. HNSW cannot remove: rebuild from the stored vectors without those ids.
                keep = np.setdiff1d(self.ids(), ids)
                vecs = self.reconstruct(keep)
                removed = len(self) - len(keep)
                self._index = self._new_index()
                if len(keep):
                    self._index.add_with_ids(vecs, keep)
                return removed

    # -- queries --------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> np.ndarray:
        return np.asarray(faiss.vector_to_array(self._index.id_map), dtype=np.int64)

    def contains(self, ids: np.ndarray) -> np.ndarray:
        return np.isin(np.asarray(ids, dtype=np.int64), self.ids())

    def reconstruct(self, ids: np.ndarray) -> np.ndarray:
        out = np.zeros((len(ids), self.meta.dim), np.float32)
        for row, i in enumerate(np.asarray(ids, dtype=np.int64)):
            out[row] = self._index.reconstruct(int(i))
        return out

    def search(
        self, queries: np.ndarray, k: int, *, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids); ids of -1 mark empty slots. ``allowed`` restricts to those ids."""
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.meta.dim)
        k = max(1, min(k, max(len(self), 1)))
        params = None
        if allowed is not None:
            sel = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
            params = faiss.SearchParameters(sel=sel)
        with self._lock:
            if len(self) == 0:
                return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
            scores, ids = self._index.search(queries, k, params=params) if params else self._index.search(queries, k)
        return scores, ids

    # -- persistence ----------------------------------------------------------------------
    def save(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            os.close(fd)
            try:
                faiss.write_index(self._index, tmp)
                with open(tmp, "rb+") as fh:
                    os.fsync(fh.fileno())
                _write_json_atomic(path.with_suffix(".json"), {**self.meta.to_dict(), "ntotal": len(self)})
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        self.loaded_mtime = path.stat().st_mtime

    @classmethod
    def load(cls, path: Path, meta: IndexMeta) -> VectorIndex:
        path = Path(path)
        index = faiss.read_index(str(path))
        if index.d != meta.dim:
            raise IndexConfigError(f"{path} holds vectors of dim {index.d}, expected {meta.dim}")
        vi = cls(meta, index)
        vi.loaded_mtime = path.stat().st_mtime
        return vi

    @classmethod
    def open(cls, path: Path, meta: IndexMeta) -> VectorIndex:
        """Load when the file exists and matches the descriptor's model; else start empty."""
        path = Path(path)
        if path.exists():
            side = path.with_suffix(".json")
            stored = json.loads(side.read_text()) if side.exists() else {}
            if stored.get("model_version", meta.model_version) != meta.model_version:
                raise IndexConfigError(
                    f"{path} was built with model {stored.get('model_version')} but the server runs "
                    f"{meta.model_version}; rebuild it with `artsnap reindex`"
                )
            return cls.load(path, meta)
        return cls(meta)

    def memory_bytes(self) -> int:
        """Approximate resident size: what a worker pays to hold this index."""
        return len(self) * (self.meta.dim * 4 + 16)


def _write_json_atomic(path: Path, data: dict[str, object]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)
