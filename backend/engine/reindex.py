"""Rebuilding a derived descriptor's index (``code``) from the vectors a collection already holds.

A new code head, or a collection indexed before one was registered, needs codes for every item.
They are a function of the ``cnn`` vectors, which the ``cnn`` index keeps (exactly for ``Flat``
and re-ranked indexes; a compressed ``cnn`` index gives its approximation, so rebuild everything
with a plain ``artsnap reindex`` there). This is seconds for 100 000 items, where re-embedding
from the media store takes most of an hour on 2 cores.

Consistency is the usual one: under the collection's write lock, the new index is saved
atomically; an item missing from it afterwards (an interruption) is repaired by ``reconcile``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .index_store import IndexStore


class NotDerived(ValueError):
    """The descriptor is not computed from another one (re-embed with a full reindex)."""


@dataclass(frozen=True)
class DerivedReindex:
    descriptor: str
    source: str
    items: int


def rebuild_derived(
    index_store: IndexStore, descriptors: Any, collection_id: int, names: Sequence[str], *, chunk: int = 20_000
) -> list[DerivedReindex]:
    """Replace the indexes of ``names`` (derived descriptors) with ones computed from their sources."""
    out = []
    for name in names:
        if name not in descriptors:
            raise NotDerived(f"unknown descriptor {name!r}; this server has {', '.join(descriptors)}")
        source = getattr(descriptors[name], "source", None)
        if source is None:
            raise NotDerived(f"{name!r} is computed from images, not from another descriptor: run a full reindex")
    with index_store.writer(collection_id, timeout=60.0, rebuild=names) as indexes:
        for name in names:
            d = descriptors[name]
            src, fresh = indexes[d.source], indexes[name]
            ids = src.ids()
            for s in range(0, len(ids), chunk):
                part = ids[s : s + chunk]
                fresh.add(part, d.from_source(src.reconstruct(part)))
            index_store.save(collection_id, {name: fresh})
            out.append(DerivedReindex(name, d.source, int(len(np.asarray(ids)))))
    return out
