"""One FAISS index per (collection, descriptor), persisted beside the catalog.

The index is named by a faiss ``index_factory`` string (``"Flat"``, ``"HNSW32"``,
``"IVF1024,PQ64x4fs"``, ``"OPQ64_256,IVF4096,PQ64"`` …) and its vectors carry catalog item
ids: add and delete by id without rebuilding, and ``reconstruct`` for re-scoring and
"related items". Vectors are L2-normalised and compared by inner product (= cosine).

Ids: most indexes are wrapped in ``IndexIDMap2``. IVF indexes are not: ``IndexIDMap`` assumes
the inner index renumbers its vectors when some are removed, as ``IndexFlat`` does, but an IVF
keeps its internal numbers, so after a delete the map pointed at the wrong items. IVF indexes
store catalog ids in their inverted lists themselves, with a hash-table direct map for
``reconstruct`` by id.

Saves are atomic (temp file + rename) so a reader, or a crash, never sees half an index.
Readers may memory-map a saved file (``mmap=True``): the flat codes are then read straight
from the page cache instead of being copied into the process, so a worker starts in a
fraction of a second and pays resident memory only for the pages its searches touch. A
memory-mapped index is read-only; writers always load a private copy.

:mod:`.binary_index` (Hamming codes) and :mod:`.reranked_index` (a compressed index whose
shortlist is re-scored with stored floats) extend this class; :func:`.index_kinds.index_class`
picks one from the factory string.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np


class IndexConfigError(ValueError):
    """The index factory string is not one faiss understands (or needs training data we lack)."""


#: Bytes a catalog id costs in memory beside its code: 8 for the id, and the hash map from id
#: to position that ``reconstruct`` by id needs (``IndexIDMap2.rev_map`` or an IVF's hash-table
#: direct map; about 40 bytes per entry on faiss's hash map).
ID_BYTES = 8 + 40

#: First-batch size below which an index that needs training refuses to start.
MIN_TRAINING_VECTORS = 1000


@dataclass(frozen=True)
class IndexMeta:
    descriptor: str
    dim: int
    factory: str
    model_version: str
    #: Search-time parameters, ``"nprobe=32,efSearch=64,k_factor_rf=4"`` (not saved: a
    #: deployment tunes them without rebuilding).
    params: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "descriptor": self.descriptor,
            "dim": self.dim,
            "factory": self.factory,
            "model_version": self.model_version,
        }


def find_sorted(sorted_ids: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``ids``: its position in ``sorted_ids`` (clipped) and whether it is there."""
    ids = np.asarray(ids, dtype=np.int64)
    if len(sorted_ids) == 0:
        return np.zeros(ids.shape, np.int64), np.zeros(ids.shape, bool)
    pos = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
    return pos, np.asarray(sorted_ids[pos] == ids)


def parse_params(text: str) -> dict[str, float]:
    """``"nprobe=32, efSearch=64"`` → ``{"nprobe": 32.0, "efSearch": 64.0}``; clear errors for typos."""
    out: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, value = part.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise IndexConfigError(f"search parameter {part!r} is not NAME=NUMBER (e.g. nprobe=32)") from None
    return out


class VectorIndex:
    """Thread-safe wrapper: FAISS searches may run concurrently, mutations take the lock."""

    def __init__(self, meta: IndexMeta, index: Any = None) -> None:
        self.meta = meta
        self._lock = threading.RLock()
        self._index = index if index is not None else self._new_index()
        self._ids_cache: np.ndarray | None = None
        self.loaded_mtime: float = 0.0
        self.mmapped = False
        self._apply_params()

    # -- the faiss structure (subclasses change these) ---------------------------------------
    def _new_index(self) -> Any:
        return build_float_index(self.meta.dim, self.meta.factory)

    def _ivf(self) -> Any:
        """The IVF inside the index when it keeps catalog ids itself (see the module docstring)."""
        if isinstance(self._index, faiss.IndexIDMap2):
            return None
        return faiss.try_extract_index_ivf(self._index)

    def _encode(self, vectors: np.ndarray) -> np.ndarray:
        """What faiss stores for ``vectors`` (float indexes: the vectors themselves)."""
        return vectors

    def _decode(self, codes: np.ndarray) -> np.ndarray:
        return np.asarray(codes, np.float32)

    def _scores(self, distances: np.ndarray) -> np.ndarray:
        """faiss's distances → similarities (inner products here)."""
        return np.asarray(distances, np.float32)

    def _supports_selector(self) -> bool:
        return True

    def _apply_params(self) -> None:
        params = parse_params(self.meta.params)
        if not params:
            return
        ps = faiss.ParameterSpace()
        for name, value in params.items():
            if name == "k_factor_rf":
                continue  # the re-ranking shortlist factor, read by RerankedIndex
            try:
                ps.set_index_parameter(self._index, name, value)
            except RuntimeError as exc:
                raise IndexConfigError(
                    f"search parameter {name!r} does not apply to index {self.meta.factory!r}: {exc}"
                ) from exc

    # -- mutation -------------------------------------------------------------------------
    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.meta.dim:
            raise ValueError(f"expected vectors of dim {self.meta.dim}, got {vectors.shape}")
        if len(ids) == 0:
            return
        self._check_writable()
        codes = self._encode(vectors)
        with self._lock:
            present = np.isin(ids, self._own_ids())
            if present.any():  # re-adding an id replaces its vector (idempotent resume)
                self._remove(ids[present])
            if not self._index.is_trained:
                if len(codes) < MIN_TRAINING_VECTORS:
                    raise IndexConfigError(
                        f"index {self.meta.factory!r} needs training; add at least {MIN_TRAINING_VECTORS} vectors in "
                        "the first batch or use a factory that needs none (Flat, HNSW32, SQ8)"
                    )
                self._index.train(codes)
            self._index.add_with_ids(codes, ids)
            self._ids_cache = None

    def remove(self, ids: np.ndarray) -> int:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        self._check_writable()
        with self._lock:
            return self._remove(ids)

    def _remove(self, ids: np.ndarray) -> int:
        self._ids_cache = None
        try:
            return int(self._index.remove_ids(self._remove_selector(ids)))
        except RuntimeError:
            # e.g. HNSW cannot remove: rebuild from the stored vectors without those ids.
            keep = np.setdiff1d(self._own_ids(), ids)
            codes = self._reconstruct_codes(keep)
            removed = len(self) - len(keep)
            self._index = self._new_index()
            self._apply_params()
            if len(keep):
                if not self._index.is_trained:
                    self._index.train(codes)
                self._index.add_with_ids(codes, keep)
            self._ids_cache = None
            return removed

    def _remove_selector(self, ids: np.ndarray) -> Any:
        # An IVF's hash-table direct map only removes by an explicit id array; everything else
        # scans its vectors and asks the selector, which a hashed batch answers fastest.
        ivf = self._ivf()
        if ivf is not None and ivf.direct_map.type == faiss.DirectMap.Hashtable:
            return faiss.IDSelectorArray(ids)
        return faiss.IDSelectorBatch(ids)

    def _check_writable(self) -> None:
        if self.mmapped:
            raise RuntimeError("a memory-mapped index is read-only; open it through IndexStore.writer to change it")

    # -- queries --------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> np.ndarray:
        """Every catalog id in the index, sorted (cached until the next change)."""
        return self._own_ids()

    def stored_ids(self) -> np.ndarray:
        """Every id any part of the index keeps a vector for (what ``reconcile`` cleans up)."""
        return self.ids()

    def _own_ids(self) -> np.ndarray:
        with self._lock:
            if self._ids_cache is None:
                ivf = self._ivf()
                if ivf is None:
                    raw = np.asarray(faiss.vector_to_array(self._index.id_map), dtype=np.int64)
                else:
                    raw = _ivf_ids(ivf)
                self._ids_cache = np.sort(raw)
            return self._ids_cache

    def contains(self, ids: np.ndarray) -> np.ndarray:
        return find_sorted(self.ids(), ids)[1]

    def _reconstruct_codes(self, ids: np.ndarray) -> np.ndarray:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if len(ids) == 0:
            return np.zeros((0, self._code_width()), np.float32)
        return np.asarray(self._index.reconstruct_batch(ids), dtype=np.float32)

    def _code_width(self) -> int:
        return self.meta.dim

    def reconstruct(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of ``ids`` (exact for Flat; the compressed approximation otherwise)."""
        if len(ids) == 0:
            return np.zeros((0, self.meta.dim), np.float32)
        return self._decode(self._reconstruct_codes(ids))

    def search(
        self, queries: np.ndarray, k: int, *, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids); ids of -1 mark empty slots. ``allowed`` restricts to those ids."""
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.meta.dim)
        k = max(1, min(k, max(len(self), 1)))
        with self._lock:
            if len(self) == 0:
                return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
            codes = self._encode(queries)
            if allowed is None:
                dist, ids = self._index.search(codes, k)
            elif self._supports_selector():
                sel = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
                dist, ids = self._index.search(codes, k, params=self._selector_params(sel))
            else:
                dist, ids = self._search_filtered(codes, k, np.asarray(allowed, np.int64))
        return self._scores(dist), ids

    def _selector_params(self, sel: Any) -> Any:
        """Search parameters carrying ``sel`` and the index's own settings (nprobe, efSearch)."""
        ivf = faiss.try_extract_index_ivf(self._index)
        if ivf is not None:
            return faiss.SearchParametersIVF(sel=sel, nprobe=ivf.nprobe)
        hnsw = _try_hnsw(self._index)
        if hnsw is not None:
            return faiss.SearchParametersHNSW(sel=sel, efSearch=hnsw.hnsw.efSearch)
        return faiss.SearchParameters(sel=sel)

    def _search_filtered(self, codes: np.ndarray, k: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For indexes without id selectors: fetch more and keep the allowed ids."""
        allowed = np.unique(allowed)
        want = min(k, len(allowed))
        fetch = min(len(self), max(4 * k, 64))
        while True:
            dist, ids = self._index.search(codes, fetch)
            keep = np.isin(ids, allowed) & (ids >= 0)
            if keep.sum(axis=1).min(initial=want) >= want or fetch >= len(self):
                break
            fetch = min(len(self), fetch * 4)
        out_d = np.full((len(codes), k), dist.max(initial=0), dtype=dist.dtype)
        out_i = np.full((len(codes), k), -1, dtype=np.int64)
        for row in range(len(codes)):
            sel = np.flatnonzero(keep[row])[:k]
            out_d[row, : len(sel)] = dist[row, sel]
            out_i[row, : len(sel)] = ids[row, sel]
        return out_d, out_i

    # -- persistence ----------------------------------------------------------------------
    def _write(self, index: Any, filename: str) -> None:
        faiss.write_index(index, filename)

    @staticmethod
    def _read(filename: str, flags: int) -> Any:
        return faiss.read_index(filename, flags)

    def save(self, path: Path) -> None:
        path = Path(path)
        self._check_writable()
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            os.close(fd)
            try:
                self._write(self._index, tmp)
                with open(tmp, "rb+") as fh:
                    os.fsync(fh.fileno())
                _write_json_atomic(path.with_suffix(".json"), {**self.meta.to_dict(), "ntotal": len(self)})
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        self.loaded_mtime = path.stat().st_mtime

    @classmethod
    def load(cls, path: Path, meta: IndexMeta, *, mmap: bool = False) -> VectorIndex:
        """Read a saved index; ``mmap``: map its codes from the file, read-only (readers)."""
        path = Path(path)
        flags = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY if mmap else 0
        try:
            index = cls._read(str(path), flags)
        except RuntimeError as exc:
            raise IndexConfigError(f"{path} is not a {cls.__name__} faiss file: {str(exc).splitlines()[0]}") from exc
        if index.d != meta.dim:
            raise IndexConfigError(f"{path} holds vectors of dim {index.d}, expected {meta.dim}")
        vi = cls(meta, index if mmap else upgrade_legacy_ivf(index))
        vi.mmapped = mmap
        vi.loaded_mtime = path.stat().st_mtime
        return vi

    @classmethod
    def open(cls, path: Path, meta: IndexMeta, *, mmap: bool = False) -> VectorIndex:
        """Load when the file exists and matches the descriptor's model; else start empty."""
        path = Path(path)
        if path.exists():
            check_saved_meta(path, meta)
            return cls.load(path, meta, mmap=mmap)
        return cls(meta)

    def files(self, path: Path) -> list[Path]:
        """Every file this index keeps at ``path`` (for sizes and clean-up)."""
        return [Path(path), Path(path).with_suffix(".json")]

    def memory_bytes(self) -> int:
        """About what a worker pays to hold this index fully loaded: codes, ids and id maps
        (an IVF built without a direct map, a re-ranked index's base, keeps its ids alone)."""
        ivf = self._ivf()
        no_map = ivf is not None and ivf.direct_map.type == faiss.DirectMap.NoMap
        return len(self) * (self.code_bytes() + (8 if no_map else ID_BYTES))

    def code_bytes(self) -> int:
        """Bytes per vector in the index's own storage (its codec's size; graphs and lists not counted)."""
        inner = self._index.index if isinstance(self._index, faiss.IndexIDMap2) else self._index
        try:
            return int(inner.sa_code_size())
        except RuntimeError:
            return self.meta.dim * 4


def check_saved_meta(path: Path, meta: IndexMeta) -> None:
    """Refuse an index file built with another model (its vectors mean something else)."""
    side = Path(path).with_suffix(".json")
    stored = json.loads(side.read_text()) if side.exists() else {}
    if stored.get("model_version", meta.model_version) != meta.model_version:
        raise IndexConfigError(
            f"{path} was built with model {stored.get('model_version')} but the server runs "
            f"{meta.model_version}; rebuild it with `artsnap reindex`"
        )


def build_float_index(dim: int, factory: str, *, need_reconstruct: bool = True) -> Any:
    """A float faiss index with catalog ids, as the module docstring says.

    Fast-scan IVF (``PQ…x4fs``) keeps its codes in blocks that faiss cannot index by id, so
    it can delete but not give a vector back: it is only accepted where another part keeps the
    vectors (``need_reconstruct=False``, the base of a :class:`.reranked_index.RerankedIndex`).
    """
    try:
        inner = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        raise IndexConfigError(f"faiss cannot build index {factory!r}: {str(exc).splitlines()[0]}") from exc
    _no_polysemous_training(inner)
    ivf = faiss.try_extract_index_ivf(inner)
    if ivf is None:
        return faiss.IndexIDMap2(inner)
    if isinstance(faiss.downcast_index(ivf), faiss.IndexIVFFastScan):
        if need_reconstruct:
            raise IndexConfigError(
                f"{factory!r} is a fast-scan index, which cannot return stored vectors for re-scoring; "
                f"add re-ranking by stored floats: {factory + ',RFlat'!r}"
            )
        return inner
    ivf.set_direct_map_type(faiss.DirectMap.Hashtable)
    return inner


def _no_polysemous_training(index: Any) -> None:
    """PQ indexes from the factory re-order their codes for polysemous search, which this engine
    never uses, at a cost of a minute or more per training on these cores: switch it off."""
    ivf = faiss.try_extract_index_ivf(index)
    inner = faiss.downcast_index(ivf if ivf is not None else index)
    if isinstance(inner, faiss.IndexPreTransform):
        inner = faiss.downcast_index(inner.index)
    if isinstance(inner, (faiss.IndexPQ, faiss.IndexIVFPQ)):
        inner.do_polysemous_training = False


def upgrade_legacy_ivf(index: Any) -> Any:
    """An IVF saved inside ``IndexIDMap2`` (before ids moved into the IVF): move them in.

    Right for files that never saw a delete; a delete under the old layout had already
    mis-numbered the vectors, which only ``artsnap reindex`` repairs.
    """
    if not isinstance(index, faiss.IndexIDMap2):
        return index
    if faiss.try_extract_index_ivf(index.index) is None:
        return index
    id_map = faiss.vector_to_array(index.id_map).astype(np.int64)
    inner = faiss.clone_index(index.index)  # a copy of our own; the wrapper goes away whole
    ivf = faiss.try_extract_index_ivf(inner)
    if isinstance(faiss.downcast_index(ivf), faiss.IndexIVFFastScan):
        return index
    inv = ivf.invlists
    for lst in range(ivf.nlist):
        n = inv.list_size(lst)
        if n:
            internal = faiss.rev_swig_ptr(inv.get_ids(lst), n).copy()
            inv.update_entries(lst, 0, n, faiss.swig_ptr(np.ascontiguousarray(id_map[internal])), inv.get_codes(lst))
    ivf.set_direct_map_type(faiss.DirectMap.Hashtable)
    return inner


def _ivf_ids(ivf: Any) -> np.ndarray:
    inv = ivf.invlists
    parts = []
    for lst in range(ivf.nlist):
        n = inv.list_size(lst)
        if n:
            parts.append(faiss.rev_swig_ptr(inv.get_ids(lst), n).copy())
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


def _try_hnsw(index: Any) -> Any:
    inner = index.index if isinstance(index, faiss.IndexIDMap2) else index
    inner = faiss.downcast_index(inner)
    return inner if isinstance(inner, faiss.IndexHNSW) else None


def _write_json_atomic(path: Path, data: dict[str, object]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)
