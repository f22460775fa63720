"""A compressed index whose shortlist is re-scored with stored float vectors.

Product quantisation (``IVF4096,PQ64x4fs``, ``OPQ64_256,IVF4096,PQ64``) keeps a 1 280-d
vector in 32-64 bytes, so a million items fit in a worker, but its scores are approximate and
its recall@10 against exact search is far from 1. Re-ranking fixes that: the compressed index
proposes ``k × k_factor_rf`` candidates, and their exact inner products are computed from a
second, flat store of the floats. The store is memory-mapped by readers, so a worker only
pages in the few hundred vectors per query it actually re-scores; its full size lives on disk.

Named as faiss names refinement, by a suffix on the factory string: ``",RFlat"`` (exact
float32 store) or ``",Refine(SQfp16)"`` (half-precision store, half the disk, scores within
~1e-3). faiss's own ``IndexRefine`` is not used because it cannot delete: its two parts number
vectors independently. Here both parts are ordinary id-keyed indexes, so add, delete,
reconcile and crash recovery work as for any other index. The store is saved first and the
compressed index second (each atomically); a reader that catches them between the two saves
skips candidates the store does not know, and :meth:`ids` is what both hold, so ``reconcile``
re-embeds anything that only one of them kept.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from .index import ID_BYTES, IndexConfigError, IndexMeta, VectorIndex, build_float_index, find_sorted, parse_params
from .page_prefetch import MappedRows

_REFINE = re.compile(r"^(?P<base>.+?),(?:RFlat|Refine\((?P<store>[^()]+)\))$")

#: Shortlist size as a multiple of k when the deployment does not say (``k_factor_rf=N``).
DEFAULT_K_FACTOR = 4
#: A shortlist is never shorter than this: the search service asks for top-50 anyway.
MIN_SHORTLIST = 64


def split_refine(factory: str) -> tuple[str, str] | None:
    """``"IVF1024,PQ64,RFlat"`` → ``("IVF1024,PQ64", "Flat")``; None without a refine suffix."""
    m = _REFINE.match(factory.strip())
    if not m:
        return None
    return m.group("base"), (m.group("store") or "Flat")


class RerankedIndex(VectorIndex):
    """``self._index`` is the compressed index; ``self.store`` holds the floats it re-ranks with."""

    def __init__(self, meta: IndexMeta, index: Any = None, store: VectorIndex | None = None) -> None:
        parts = split_refine(meta.factory)
        if parts is None:
            raise IndexConfigError(f"{meta.factory!r} has no ',RFlat' or ',Refine(...)' suffix")
        self._base_factory, store_factory = parts
        if store_factory.startswith("B") or split_refine(store_factory):
            raise IndexConfigError(f"the re-ranking store of {meta.factory!r} must be a float index (Flat, SQfp16)")
        params = parse_params(meta.params)
        self.k_factor = max(1, int(params.get("k_factor_rf", DEFAULT_K_FACTOR)))
        self.store = store if store is not None else VectorIndex(self._store_meta(meta, store_factory))
        #: where a memory-mapped store's rows lie, to read a shortlist's at once (None: not mapped)
        self._mapped_rows: MappedRows | None = None
        super().__init__(meta, index)

    @staticmethod
    def _store_meta(meta: IndexMeta, factory: str) -> IndexMeta:
        return replace(meta, factory=factory, params="")

    def _new_index(self) -> Any:
        return build_float_index(self.meta.dim, self._base_factory, need_reconstruct=False)

    def _reconstruct_codes(self, ids: np.ndarray) -> np.ndarray:
        # Rebuilding the compressed part (an index that cannot delete) starts from the exact floats.
        return self.store.reconstruct(ids)

    # -- mutation: both parts -----------------------------------------------------------------
    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        with self._lock:
            self.store.add(ids, vectors)
            super().add(ids, vectors)

    def remove(self, ids: np.ndarray) -> int:
        with self._lock:
            self.store.remove(ids)
            return super().remove(ids)

    # -- queries ------------------------------------------------------------------------------
    def ids(self) -> np.ndarray:
        """Ids both parts hold (an item only one part knows is not searchable: reconcile re-embeds it)."""
        return np.intersect1d(super().ids(), self.store.ids(), assume_unique=True)

    def stored_ids(self) -> np.ndarray:
        return np.union1d(super().ids(), self.store.ids())

    def contains(self, ids: np.ndarray) -> np.ndarray:
        """Which ids both parts hold, without building :meth:`ids` (an intersection of every
        id, 0.1 s at a million) on each call: searches ask this of their hits."""
        ids = np.asarray(ids, dtype=np.int64)
        held = find_sorted(self._own_ids(), ids)[1]
        stored = self._mapped_rows.contains(ids) if self._mapped_rows is not None else self.store.contains(ids)
        return np.asarray(held & stored.reshape(ids.shape))

    def reconstruct(self, ids: np.ndarray) -> np.ndarray:
        return self.store.reconstruct(ids)

    def search(
        self, queries: np.ndarray, k: int, *, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.meta.dim)
        k = max(1, min(k, max(len(self), 1)))
        _, short = super().search(queries, max(k * self.k_factor, MIN_SHORTLIST), allowed=allowed)
        if self._mapped_rows is not None:
            # Every candidate's floats are asked of the disk together (module docstring of
            # .page_prefetch): a cold shortlist costs one read's wait, not one per candidate.
            self._mapped_rows.prefetch(short[short >= 0])
        scores = np.full((len(queries), k), -np.inf, np.float32)
        out = np.full((len(queries), k), -1, np.int64)
        for row, q in enumerate(queries):
            cand = short[row][short[row] >= 0]
            held = self._mapped_rows.contains(cand) if self._mapped_rows is not None else self.store.contains(cand)
            cand = cand[held]
            if not len(cand):
                continue
            exact = self.store.reconstruct(cand) @ q
            order = np.argsort(-exact, kind="stable")[:k]
            scores[row, : len(order)] = exact[order]
            out[row, : len(order)] = cand[order]
        return scores, out

    # -- persistence: store first, then the compressed index ----------------------------------
    @staticmethod
    def store_path(path: Path) -> Path:
        path = Path(path)
        return path.with_name(path.stem + ".floats.faiss")

    def save(self, path: Path) -> None:
        with self._lock:
            self.store.save(self.store_path(path))
            super().save(path)

    @classmethod
    def load(cls, path: Path, meta: IndexMeta, *, mmap: bool = False) -> VectorIndex:
        parts = split_refine(meta.factory)
        if parts is None:
            raise IndexConfigError(f"{meta.factory!r} has no ',RFlat' or ',Refine(...)' suffix")
        spath = cls.store_path(path)
        smeta = cls._store_meta(meta, parts[1])
        store = VectorIndex.load(spath, smeta, mmap=mmap) if spath.exists() else VectorIndex(smeta)
        flags = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY if mmap else 0
        try:
            base = faiss.read_index(str(path), flags)
        except RuntimeError as exc:
            raise IndexConfigError(f"{path} is not a faiss index file: {str(exc).splitlines()[0]}") from exc
        if base.d != meta.dim:
            raise IndexConfigError(f"{path} holds vectors of dim {base.d}, expected {meta.dim}")
        idx = cls(meta, base, store)
        idx.mmapped = mmap
        if mmap and store.mmapped:
            idx._mapped_rows = MappedRows.of(store._index)
        idx.loaded_mtime = Path(path).stat().st_mtime
        return idx

    def files(self, path: Path) -> list[Path]:
        return [*super().files(path), *self.store.files(self.store_path(path))]

    def memory_bytes(self) -> int:
        """The compressed index and its ids, and the float store's ids and id map; mapped (a
        worker), where each row lies, the floats themselves staying on disk; not mapped (a
        writer, or ``ARTSNAP_INDEX_MMAP=0``), the floats too."""
        store = len(self.store) * ID_BYTES
        if self._mapped_rows is not None:
            store += self._mapped_rows.memory_bytes()
        elif not self.store.mmapped:
            store += len(self.store) * self.store.code_bytes()
        return super().memory_bytes() + store
