"""Which index class a factory string names: float, binary (Hamming) or re-ranked.

One short string still names an index, as faiss's ``index_factory`` does: ``"B…"`` is one of
faiss's binary factories (``BFlat``, ``BHNSW32``, ``BIVF1024``), a ``",RFlat"`` or
``",Refine(SQfp16)"`` suffix asks for re-ranking by stored floats, anything else is a float
factory. A binary factory only makes sense for a binary descriptor (codes) and vice versa, so a
mismatch is refused when the index is configured, not when a search ranks nonsense.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from .binary_index import BinaryIndex
from .index import IndexConfigError, IndexMeta, VectorIndex
from .reranked_index import RerankedIndex, split_refine


def is_binary_factory(factory: str) -> bool:
    return factory.strip().startswith("B")


def index_class(factory: str) -> type[VectorIndex]:
    if is_binary_factory(factory):
        return BinaryIndex
    if split_refine(factory) is not None:
        return RerankedIndex
    return VectorIndex


def check_factory(descriptor: str, factory: str, *, binary: bool) -> None:
    """Refuse a float factory for codes, or a binary one for float vectors."""
    if binary and not is_binary_factory(factory):
        raise IndexConfigError(
            f"descriptor {descriptor!r} gives binary codes: its index factory must be a binary one "
            f"(BFlat, BIVF<n>, BHNSW<m>), not {factory!r}"
        )
    if not binary and is_binary_factory(factory):
        raise IndexConfigError(
            f"descriptor {descriptor!r} gives float vectors: {factory!r} is a binary (Hamming) index factory"
        )


def new_index(meta: IndexMeta) -> VectorIndex:
    return index_class(meta.factory)(meta)


def open_index(path: Path, meta: IndexMeta, *, mmap: bool = False) -> VectorIndex:
    """The saved index at ``path`` (or an empty one), as the class its factory names.

    A saved index is opened as what it was built as, even when the configured factory has
    changed since (``artsnap reindex`` rebuilds it with the new one): a collection keeps
    answering in the meantime. Search parameters only apply to an index of the configured kind.
    """
    saved = saved_factory(path)
    if saved is not None and saved != meta.factory:
        meta = replace(meta, factory=saved, params="")
    return index_class(meta.factory).open(path, meta, mmap=mmap)


def saved_factory(path: Path) -> str | None:
    side = Path(path).with_suffix(".json")
    try:
        factory = json.loads(side.read_text()).get("factory")
    except (OSError, ValueError):
        return None
    return str(factory) if factory else None
