"""Where each collection's indexes live, how readers stay fresh and writers stay exclusive.

Readers (gunicorn workers) keep indexes in memory (memory-mapped when ``mmap``, see
:mod:`.index`) and reload one when its file's mtime changes, a single ``stat`` per search. Writers (``artsnap ingest``, ``POST …/items``) take a
per-collection file lock, so two processes never interleave saves. ``reconcile`` is the crash
story: after any interruption it makes the catalog's item states and the saved indexes agree.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from .catalog.store import Catalog
from .descriptors import Descriptor
from .index import IndexMeta, VectorIndex
from .index_kinds import check_factory, new_index, open_index
from .reranked_index import RerankedIndex


class CollectionBusy(RuntimeError):
    """Another process holds the collection's write lock (an ingest is running)."""


@dataclass(frozen=True)
class ReconcileReport:
    removed_from_index: int
    marked_indexed: int
    marked_pending: int


class IndexStore:
    """``factory`` is the ``cnn`` index's; ``factories`` names others (``code``: ``"BFlat"``,
    everything else ``"Flat"``), ``params`` their search parameters (``"nprobe=32"``)."""

    def __init__(
        self,
        index_dir: Path,
        descriptors: Mapping[str, Descriptor],
        factory: str,
        *,
        factories: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        mmap: bool = False,
    ) -> None:
        self.index_dir = Path(index_dir)
        self.descriptors = descriptors
        self.factory = factory
        self.factories = {"code": "BFlat", **dict(factories or {}), "cnn": factory}
        self.params = dict(params or {})
        self.mmap = mmap
        self._cache: dict[tuple[int, str], VectorIndex] = {}
        self._lock = threading.Lock()

    def path(self, collection_id: int, descriptor: str) -> Path:
        return self.index_dir / str(collection_id) / f"{descriptor}.faiss"

    def _meta(self, descriptor: str) -> IndexMeta:
        d = self.descriptors[descriptor]
        factory = self.factories.get(descriptor, "Flat")
        check_factory(descriptor, factory, binary=bool(getattr(d, "binary", False)))
        return IndexMeta(
            descriptor=descriptor,
            dim=d.dim,
            factory=factory,
            model_version=d.version,
            params=self.params.get(descriptor, ""),
        )

    def get(self, collection_id: int, descriptor: str) -> VectorIndex:
        """The current index for reading, reloaded if another process saved a newer one."""
        key = (collection_id, descriptor)
        path = self.path(collection_id, descriptor)
        with self._lock:
            idx = self._cache.get(key)
            try:
                mtime = path.stat().st_mtime
            except FileNotFoundError:
                mtime = 0.0
            if idx is None or (mtime and mtime != idx.loaded_mtime):
                idx = open_index(path, self._meta(descriptor), mmap=self.mmap)
                self._cache[key] = idx
            return idx

    @contextmanager
    def writer(
        self, collection_id: int, *, timeout: float = 10.0, rebuild: Sequence[str] = ()
    ) -> Iterator[dict[str, VectorIndex]]:
        """Exclusive, fresh indexes for mutation; the caller saves with :meth:`save`.

        Descriptors in ``rebuild`` start empty whatever is on disk (even an index of another
        model, which would otherwise be refused): the caller fills and saves them.
        """
        lock_path = self.index_dir / str(collection_id) / ".write.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(lock_path))
        try:
            lock.acquire(timeout=timeout)
        except Timeout as exc:
            raise CollectionBusy(
                "the collection is being written by another process (an ingest?); try again shortly"
            ) from exc
        try:
            fresh = {
                name: new_index(self._meta(name))
                if name in rebuild
                else open_index(self.path(collection_id, name), self._meta(name))
                for name in self.descriptors
            }
            yield fresh
        finally:
            lock.release()

    def save(self, collection_id: int, indexes: Mapping[str, VectorIndex]) -> None:
        for name, idx in indexes.items():
            path = self.path(collection_id, name)
            idx.save(path)
            # An index rebuilt as another kind leaves no file of its old self behind.
            for old in RerankedIndex.store_path(path), RerankedIndex.store_path(path).with_suffix(".json"):
                if old not in idx.files(path):
                    old.unlink(missing_ok=True)
            with self._lock:
                self._cache[(collection_id, name)] = idx

    def reconcile(self, catalog: Catalog, collection_id: int, indexes: Mapping[str, VectorIndex]) -> ReconcileReport:
        """Make catalog states and saved indexes agree (call under :meth:`writer`).

        - vectors whose item is gone or is a duplicate are removed from the index;
        - ``pending`` items whose vectors made it into every index become ``indexed``;
        - ``indexed`` items missing from any index go back to ``pending`` (re-embedded next).
        """
        indexed = set(catalog.ids_with_status(collection_id, "indexed"))
        pending = set(catalog.ids_with_status(collection_id, "pending"))
        live = indexed | pending
        removed = 0
        in_all: set[int] | None = None
        for idx in indexes.values():
            stale = np.array(sorted(set(idx.stored_ids().tolist()) - live), dtype=np.int64)
            if len(stale):
                removed += idx.remove(stale)
            ids = set(idx.ids().tolist())
            in_all = ids if in_all is None else in_all & ids
        in_all = in_all or set()
        to_indexed = sorted(pending & in_all)
        to_pending = sorted(indexed - in_all)
        if removed:
            self.save(collection_id, indexes)
        catalog.set_status(to_indexed, "indexed")
        catalog.set_status(to_pending, "pending")
        return ReconcileReport(removed, len(to_indexed), len(to_pending))
