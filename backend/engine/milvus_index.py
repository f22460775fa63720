"""One Milvus collection standing in for one FAISS index: the same methods, another engine.

The engine talks to an index through :class:`.index.VectorIndex`'s methods (add, remove, ids,
contains, reconstruct, search, save), so the Milvus store is a subclass that answers each of
them with a Milvus call instead of a faiss one, and nothing above the store changes.

Differences that matter:

- A write is in Milvus as soon as ``add`` returns (``upsert``: re-adding an id replaces its
  vector, as FAISS does for a resumed ingest); ``save`` makes it durable (``flush``). The
  catalog still marks rows ``indexed`` only after ``save``, so the crash story of
  :meth:`.index_store.IndexStore.reconcile` holds unchanged.
- Nothing is cached in the process: every instance reads the same collection, so a write
  through one is seen by the next search on any other.
- Reads go through the collection's alias, writes to the physical generation the writer
  opened (see :mod:`.milvus_mapping`), so a rebuild is invisible until its alias switch.
- Every call has a deadline; an unreachable store raises
  :class:`.index_store.VectorStoreUnavailable`, which the API answers with a 503.

Binary descriptors are stored as Milvus ``BINARY_VECTOR`` (packed signs, Hamming distance),
which a Milvus server has and milvus-lite does not.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from .binary_index import to_unit_codes
from .index import IndexConfigError, IndexMeta, VectorIndex
from .index_store import VectorStoreUnavailable
from .milvus_mapping import MilvusIndexSpec, id_filter, index_spec

#: Rows per insert/query call: keeps each gRPC message well under Milvus's 64 MB limit.
CHUNK = 2000
#: Seconds a write (upsert, delete, flush) may take: writers are ingests and rebuilds, not
#: visitors, and an engine may seal and index a segment inside the call that filled it.
WRITE_TIMEOUT_S = 600.0
#: Error code Milvus gives for a collection (or alias) that does not exist.
COLLECTION_MISSING = 100


def milvus_call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a pymilvus call; a store that cannot answer becomes :class:`VectorStoreUnavailable`,
    a request it refuses (a type or index it lacks) an :class:`IndexConfigError` that says why."""
    from pymilvus.exceptions import MilvusException

    try:
        return fn(*args, **kwargs)
    except MilvusException as exc:
        if getattr(exc, "code", None) == COLLECTION_MISSING:
            raise
        if _unreachable(exc):
            raise VectorStoreUnavailable(f"the vector store (Milvus) did not answer: {exc.message}") from exc
        raise IndexConfigError(f"Milvus refused the request: {exc.message}") from exc
    except Exception as exc:  # grpc errors and deadlines that pymilvus does not wrap
        if type(exc).__module__.startswith(("grpc", "pymilvus")):
            raise VectorStoreUnavailable(f"the vector store (Milvus) did not answer: {exc}") from exc
        raise


def _unreachable(exc: Any) -> bool:
    text = str(getattr(exc, "message", exc)).lower()
    return getattr(exc, "code", None) in (1, 2) or any(
        word in text for word in ("connect", "unavailable", "deadline", "timeout", "timed out")
    )


def _is_missing(exc: BaseException) -> bool:
    return getattr(exc, "code", None) == COLLECTION_MISSING


class MilvusIndex(VectorIndex):
    """``read_name``: the alias searches use; ``write_name``: the generation writes go to."""

    def __init__(
        self, meta: IndexMeta, client: Any, read_name: str, *, write_name: str | None = None, timeout: float = 1.0
    ) -> None:
        self.meta = meta
        self.spec: MilvusIndexSpec = index_spec(meta.factory, meta.params)
        self.client = client
        self.read_name = read_name
        self.write_name = write_name or read_name
        self.timeout = timeout
        self._lock = threading.RLock()
        self._ids_cache = None
        self._created = False
        self.loaded_mtime = 0.0
        self.mmapped = False

    # -- codecs ---------------------------------------------------------------------------
    def _encode(self, vectors: np.ndarray) -> Any:
        if self.spec.binary:
            return [bytes(row) for row in np.packbits(np.asarray(vectors) > 0, axis=1)]
        return np.asarray(vectors, np.float32).tolist()

    def _decode_rows(self, rows: list[Any]) -> np.ndarray:
        if self.spec.binary:
            packed = np.frombuffer(b"".join(bytes(r) for r in rows), np.uint8).reshape(len(rows), -1)
            return to_unit_codes(np.unpackbits(packed, axis=1)[:, : self.meta.dim])
        return np.asarray(rows, np.float32).reshape(len(rows), self.meta.dim)

    def _similarity(self, distance: float) -> float:
        """Milvus's distance → the engine's similarity (inner product; for codes 1 − 2·hamming/bits)."""
        return 1.0 - 2.0 * distance / self.meta.dim if self.spec.binary else distance

    # -- the collection -------------------------------------------------------------------
    def ensure_collection(self) -> None:
        """Create the write generation with its index when it does not exist yet."""
        if self._created:
            return
        from pymilvus import DataType, MilvusClient

        if not milvus_call(self.client.has_collection, self.write_name, timeout=self.timeout):
            schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("id", DataType.INT64, is_primary=True)
            vtype = DataType.BINARY_VECTOR if self.spec.binary else DataType.FLOAT_VECTOR
            schema.add_field("vector", vtype, dim=self.meta.dim)
            params = self.client.prepare_index_params()
            params.add_index(
                "vector", index_type=self.spec.index_type, metric_type=self.spec.metric_type, params=self.spec.params
            )
            milvus_call(
                self.client.create_collection,
                self.write_name,
                schema=schema,
                index_params=params,
                properties={"artsnap.model_version": self.meta.model_version, "artsnap.factory": self.meta.factory},
                # Strong: a search on any instance sees every write acknowledged before it (a
                # cluster's default, Bounded, may lag by its graceful time, 5 s by default).
                consistency_level="Strong",
                timeout=30.0,
            )
        self._created = True

    # -- mutation -------------------------------------------------------------------------
    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.meta.dim:
            raise ValueError(f"expected vectors of dim {self.meta.dim}, got {vectors.shape}")
        if len(ids) == 0:
            return
        self.ensure_collection()
        for s in range(0, len(ids), CHUNK):
            codes = self._encode(vectors[s : s + CHUNK])
            rows = [{"id": int(i), "vector": c} for i, c in zip(ids[s : s + CHUNK], codes)]
            milvus_call(self.client.upsert, self.write_name, rows, timeout=WRITE_TIMEOUT_S)

    def remove(self, ids: np.ndarray) -> int:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        present = ids[self._contains(self.write_name, ids)] if len(ids) else ids
        for s in range(0, len(present), CHUNK):
            milvus_call(
                self.client.delete, self.write_name, ids=present[s : s + CHUNK].tolist(), timeout=WRITE_TIMEOUT_S
            )
        return len(present)

    def save(self, path: Path | None = None) -> None:
        """Durable in Milvus (the path of a FAISS file means nothing here)."""
        if self._created or self._exists(self.write_name):
            milvus_call(self.client.flush, self.write_name, timeout=WRITE_TIMEOUT_S)

    # -- queries --------------------------------------------------------------------------
    def _exists(self, name: str) -> bool:
        return bool(milvus_call(self.client.has_collection, name, timeout=self.timeout))

    def _query(self, name: str, expr: str, fields: list[str], **kw: Any) -> list[dict[str, Any]]:
        try:
            return list(
                milvus_call(self.client.query, name, filter=expr, output_fields=fields, timeout=self.timeout, **kw)
            )
        except Exception as exc:
            if _is_missing(exc):
                return []
            raise

    def __len__(self) -> int:
        rows = self._query(self.read_name, "", ["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    def ids(self) -> np.ndarray:
        return self._all_ids(self.read_name)

    def stored_ids(self) -> np.ndarray:
        """The writer's generation: what ``reconcile`` compares with the catalog."""
        return self._all_ids(self.write_name)

    def _all_ids(self, name: str) -> np.ndarray:
        if not self._exists(name):
            return np.zeros(0, np.int64)
        it = milvus_call(
            self.client.query_iterator, name, batch_size=CHUNK * 4, filter="", output_fields=["id"], timeout=60.0
        )
        out: list[int] = []
        try:
            while batch := milvus_call(it.next):
                out.extend(int(r["id"]) for r in batch)
        finally:
            it.close()
        return np.unique(np.asarray(out, np.int64))

    def contains(self, ids: np.ndarray) -> np.ndarray:
        return self._contains(self.read_name, np.asarray(ids, np.int64))

    def _contains(self, name: str, ids: np.ndarray) -> np.ndarray:
        found: set[int] = set()
        for s in range(0, len(ids), CHUNK):
            found.update(int(r["id"]) for r in self._query(name, id_filter(ids[s : s + CHUNK]), ["id"]))
        return np.array([int(i) in found for i in ids], dtype=bool)

    def reconstruct(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, np.int64)
        if len(ids) == 0:
            return np.zeros((0, self.meta.dim), np.float32)
        by_id: dict[int, Any] = {}
        for s in range(0, len(ids), CHUNK):
            for r in self._query(self.read_name, id_filter(ids[s : s + CHUNK]), ["id", "vector"]):
                by_id[int(r["id"])] = r["vector"]
        if len(by_id) < len(set(ids.tolist())):
            # Deleted by another instance since the caller checked ``contains``: a zero vector
            # scores nothing, and the catalog no longer lists the item, so it is never shown.
            zero = self._encode(np.zeros((1, self.meta.dim), np.float32))[0]
            by_id = {int(i): by_id.get(int(i), zero) for i in ids}
        return self._decode_rows([by_id[int(i)] for i in ids])

    def search(
        self, queries: np.ndarray, k: int, *, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.meta.dim)
        nq, k = len(queries), max(1, min(int(k), 16384))
        empty = np.zeros((nq, 0), np.float32), np.zeros((nq, 0), np.int64)
        if allowed is not None and len(allowed) == 0:
            return empty
        expr = id_filter(np.unique(np.asarray(allowed, np.int64))) if allowed is not None else ""
        try:
            res = milvus_call(
                self.client.search,
                self.read_name,
                data=self._encode(queries),
                limit=k,
                filter=expr,
                output_fields=["id"],
                search_params={"metric_type": self.spec.metric_type, "params": self.spec.search_params},
                timeout=self.timeout,
            )
        except Exception as exc:
            if _is_missing(exc):
                return empty
            raise
        width = max((len(hits) for hits in res), default=0)
        scores = np.zeros((nq, width), np.float32)
        out = np.full((nq, width), -1, np.int64)
        for row, hits in enumerate(res):
            for col, hit in enumerate(hits):
                out[row, col] = int(hit["id"])
                scores[row, col] = self._similarity(float(hit["distance"]))
        return scores, out

    # -- sizes ----------------------------------------------------------------------------
    def files(self, path: Path) -> list[Path]:
        return []

    def memory_bytes(self) -> int:
        return 0  # held by Milvus, not by this process

    def code_bytes(self) -> int:
        return self.meta.dim // 8 if self.spec.binary else self.meta.dim * 4
