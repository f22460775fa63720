"""Hamming-distance indexes for binary codes (the trained ``code`` descriptor).

A binary descriptor hands over its codes as unit vectors of ±1/√bits, so the rest of the
engine (fusion, re-scoring by ``reconstruct``, related items, a phone's vector) keeps computing
inner products, and the inner product of two such vectors is exactly ``1 − 2·hamming/bits``.
This index stores only the signs, packed 8 per byte: a 64-bit code costs 8 bytes where its
float form would cost 256.

Factories are faiss's binary ones (``faiss.index_binary_factory``): ``"BFlat"`` (exhaustive
Hamming, exact: a million 64-bit codes are scanned in a few milliseconds), ``"BHNSW32"``
(graph) and ``"BIVF1024"`` (inverted lists, ``nprobe``). ``BHash``/multi-index hashing is
refused: it can neither delete nor give a code back by id. As for float IVF indexes, a binary
IVF keeps catalog ids itself (``IndexBinaryIDMap2`` would lose track of them after a delete);
the others are wrapped in ``IndexBinaryIDMap2``.
"""

from __future__ import annotations

from typing import Any

import faiss
import numpy as np

from .index import IndexConfigError, VectorIndex, parse_params


def to_unit_codes(bits: np.ndarray) -> np.ndarray:
    """0/1 (or boolean) bits (N, B) → unit vectors of ±1/√B, the form binary descriptors emit."""
    b = np.asarray(bits, dtype=bool)
    return np.where(b, 1.0, -1.0).astype(np.float32) / np.float32(np.sqrt(b.shape[1]))


class BinaryIndex(VectorIndex):
    """A faiss binary index with catalog ids; vectors in and out are ±1/√bits (see module doc)."""

    def _new_index(self) -> Any:
        factory = self.meta.factory
        if self.meta.dim % 8:
            raise IndexConfigError(f"binary codes need a multiple of 8 bits, not {self.meta.dim}")
        if factory.startswith("BHash"):
            raise IndexConfigError(
                f"index {factory!r} (multi-index hashing) cannot delete items or return their codes; "
                "use BFlat, BIVF<n> or BHNSW<m>"
            )
        try:
            inner = faiss.index_binary_factory(self.meta.dim, factory)
        except RuntimeError as exc:
            raise IndexConfigError(
                f"faiss cannot build binary index {factory!r} (use BFlat, BIVF<n> or BHNSW<m>): "
                f"{str(exc).splitlines()[0]}"
            ) from exc
        if isinstance(inner, faiss.IndexBinaryIVF):
            inner.set_direct_map_type(faiss.DirectMap.Hashtable)
            return inner
        return faiss.IndexBinaryIDMap2(inner)

    def _ivf(self) -> Any:
        return self._index if isinstance(self._index, faiss.IndexBinaryIVF) else None

    def _apply_params(self) -> None:
        params = parse_params(self.meta.params)
        inner = self._index.index if isinstance(self._index, faiss.IndexBinaryIDMap2) else self._index
        inner = faiss.downcast_IndexBinary(inner)
        for name, value in params.items():
            if name == "nprobe" and isinstance(inner, faiss.IndexBinaryIVF):
                inner.nprobe = int(value)
            elif name == "efSearch" and isinstance(inner, faiss.IndexBinaryHNSW):
                inner.hnsw.efSearch = int(value)
            elif name != "k_factor_rf":
                raise IndexConfigError(f"search parameter {name!r} does not apply to index {self.meta.factory!r}")

    def _encode(self, vectors: np.ndarray) -> np.ndarray:
        return np.packbits(np.asarray(vectors) > 0, axis=1)

    def _decode(self, codes: np.ndarray) -> np.ndarray:
        return to_unit_codes(np.unpackbits(np.asarray(codes, np.uint8), axis=1, count=self.meta.dim))

    def _code_width(self) -> int:
        return self.meta.dim // 8

    def _reconstruct_codes(self, ids: np.ndarray) -> np.ndarray:
        out = np.zeros((len(ids), self.meta.dim // 8), np.uint8)
        for row, i in enumerate(np.asarray(ids, dtype=np.int64)):
            out[row] = self._index.reconstruct(int(i))
        return out

    def _scores(self, distances: np.ndarray) -> np.ndarray:
        d = np.asarray(distances, np.float32)
        return np.float32(1.0) - np.float32(2.0 / self.meta.dim) * d

    def _supports_selector(self) -> bool:
        # Only the exhaustive index takes an id selector; the others are filtered by over-fetching.
        inner = self._index.index if isinstance(self._index, faiss.IndexBinaryIDMap2) else self._index
        return isinstance(faiss.downcast_IndexBinary(inner), faiss.IndexBinaryFlat)

    def _selector_params(self, sel: Any) -> Any:
        return faiss.SearchParameters(sel=sel)

    def _write(self, index: Any, filename: str) -> None:
        faiss.write_index_binary(index, filename)

    @staticmethod
    def _read(filename: str, flags: int) -> Any:
        return faiss.read_index_binary(filename, flags)

    def code_bytes(self) -> int:
        return self.meta.dim // 8
