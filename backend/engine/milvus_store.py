"""The Milvus-backed :class:`.index_store.IndexStore`: shared by every instance of a deployment.

Same contract as the FAISS store (``get`` for readers, ``writer`` + ``save`` for writers,
``reconcile`` after a crash, inherited unchanged), with three things a shared store needs:

- **One writer per collection across machines.** With a PostgreSQL catalog the write lock is
  a PostgreSQL advisory lock (held by the writer's database session, released if it dies);
  with SQLite, one machine, it stays the file lock.
- **Blue/green rebuilds.** ``writer(rebuild=...)`` fills a new physical generation while
  searches keep reading the old one through the alias; ``save`` moves the alias (atomic in
  Milvus, seen by every instance on its next search) and keeps the previous generation for
  :meth:`rollback`. Older generations are dropped.
- **A model check.** Each generation records the model version that made its vectors; a
  reader refuses one from another model, as the FAISS store refuses such a file.

``pymilvus`` is imported only when this store is configured (``ARTSNAP_VECTOR_STORE``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import text

from .catalog.store import Catalog
from .descriptors import Descriptor
from .index import IndexConfigError, VectorIndex
from .index_store import CollectionBusy, IndexStore, ItemSet, ReconcileReport, VectorStoreUnavailable
from .milvus_index import MilvusIndex, milvus_call
from .milvus_mapping import NAME_PREFIX, MilvusTarget, alias_name, generation_name, generation_of

#: Advisory-lock keys of collection writers: this base + the collection id.
LOCK_KEY_BASE = 0x61727473_00000000  # "arts" in the high bytes, to stay clear of other users' keys


class MilvusIndexStore(IndexStore):
    def __init__(
        self,
        target: MilvusTarget,
        descriptors: Mapping[str, Descriptor],
        factory: str,
        *,
        catalog: Catalog,
        lock_dir: Path,
        factories: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        timeout: float = 1.0,
        prefix: str = NAME_PREFIX,
    ) -> None:
        super().__init__(lock_dir, descriptors, factory, factories=factories, params=params, mmap=False)
        self.target = target
        self.catalog = catalog
        self.timeout = timeout
        self.prefix = prefix
        self._client: Any = None

    @property
    def client(self) -> Any:
        """Connected on first use (an in-process milvus-lite engine for a local path)."""
        if self._client is None:
            from pymilvus import MilvusClient

            self._client = milvus_call(MilvusClient, uri=self.target.uri, timeout=max(self.timeout, 5.0))
        return self._client

    def alias(self, collection_id: int, descriptor: str) -> str:
        return alias_name(collection_id, descriptor, self.prefix)

    # -- readers --------------------------------------------------------------------------
    def get(self, collection_id: int, descriptor: str) -> VectorIndex:
        key = (collection_id, descriptor)
        with self._lock:
            idx = self._cache.get(key)
        if idx is None:
            meta = self._meta(descriptor)
            name = self.alias(collection_id, descriptor)
            self._check_model(name, meta.model_version)
            idx = MilvusIndex(meta, self.client, name, timeout=self.timeout)
            with self._lock:
                self._cache[key] = idx
        return idx

    def _properties(self, name: str) -> dict[str, str] | None:
        if not milvus_call(self.client.has_collection, name, timeout=self.timeout):
            return None
        info = milvus_call(self.client.describe_collection, name, timeout=self.timeout)
        return dict(info.get("properties") or {})

    def _check_model(self, name: str, model_version: str) -> None:
        props = self._properties(name)
        stored = (props or {}).get("artsnap.model_version", model_version)
        if stored != model_version:
            raise IndexConfigError(
                f"Milvus collection {name!r} was built with model {stored} but the server runs "
                f"{model_version}; rebuild it with `artsnap reindex`"
            )

    # -- writers --------------------------------------------------------------------------
    @contextmanager
    def _write_lock(self, collection_id: int, timeout: float) -> Iterator[None]:
        if self.catalog.engine.dialect.name != "postgresql":
            with super()._write_lock(collection_id, timeout):
                yield
            return
        key = LOCK_KEY_BASE + collection_id
        with self.catalog.engine.connect() as conn:
            deadline = time.monotonic() + timeout
            while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                if time.monotonic() > deadline:
                    raise CollectionBusy(
                        "the collection is being written by another instance (an ingest?); try again shortly"
                    )
                time.sleep(0.1)  # poll the lock; pg_advisory_lock would block without a deadline
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()

    def _generations(self, alias: str) -> list[str]:
        names = milvus_call(self.client.list_collections, timeout=self.timeout)
        return sorted((n for n in names if n.startswith(alias + "__g")), key=generation_of)

    def _serving(self, alias: str) -> str | None:
        """The generation the alias points at (``None`` before the first save)."""
        if not milvus_call(self.client.has_collection, alias, timeout=self.timeout):
            return None
        info = milvus_call(self.client.describe_alias, alias, timeout=self.timeout)
        return str(info["collection_name"]) if info else None

    def _open_for_write(self, collection_id: int, rebuild: Sequence[str]) -> dict[str, VectorIndex]:
        out: dict[str, VectorIndex] = {}
        for name in self.descriptors:
            meta = self._meta(name)
            alias = self.alias(collection_id, name)
            serving = self._serving(alias)
            if name in rebuild or serving is None:
                gens = self._generations(alias)
                physical = generation_name(alias, max((generation_of(g) for g in gens), default=0) + 1)
                if physical in gens:  # pragma: no cover - max + 1 is never listed
                    milvus_call(self.client.drop_collection, physical)
                if serving is None and gens and name not in rebuild:
                    physical = gens[-1]  # a first ingest that crashed before its alias: resume it
            else:
                self._check_model(serving, meta.model_version)
                physical = serving
            out[name] = MilvusIndex(meta, self.client, physical, timeout=max(self.timeout, 30.0))
        return out

    def save(self, collection_id: int, indexes: Mapping[str, VectorIndex]) -> None:
        """Flush each index; a new generation becomes the serving one (the blue/green switch)."""
        for name, idx in indexes.items():
            if not isinstance(idx, MilvusIndex):
                raise TypeError(f"the Milvus store cannot save a {type(idx).__name__}")
            idx.ensure_collection()
            idx.save()
            alias = self.alias(collection_id, name)
            serving = self._serving(alias)
            if serving == idx.write_name:
                continue
            if serving is None:
                milvus_call(self.client.create_alias, idx.write_name, alias, timeout=self.timeout)
            else:
                milvus_call(self.client.alter_alias, idx.write_name, alias, timeout=self.timeout)
            keep = {idx.write_name, serving}
            for old in self._generations(alias):
                if old not in keep and generation_of(old) < generation_of(idx.write_name):
                    milvus_call(self.client.drop_collection, old, timeout=30.0)
            with self._lock:
                self._cache.pop((collection_id, name), None)

    def reconcile(
        self,
        catalog: Catalog,
        collection_id: int,
        indexes: Mapping[str, VectorIndex],
        also: Sequence[ItemSet] = (),
    ) -> ReconcileReport:
        """As the FAISS store's, after giving an alias to a first generation that a crash left
        without one (its vectors are kept; the catalog marks them indexed only after this)."""
        orphans = {
            name: idx
            for name, idx in indexes.items()
            if isinstance(idx, MilvusIndex)
            and self._serving(self.alias(collection_id, name)) is None
            and milvus_call(self.client.has_collection, idx.write_name, timeout=self.timeout)
        }
        if orphans:
            self.save(collection_id, orphans)
        return super().reconcile(catalog, collection_id, indexes, also)

    def rollback(self, collection_id: int, descriptor: str) -> str:
        """Point the alias back at the previous generation (kept by :meth:`save`); returns it."""
        alias = self.alias(collection_id, descriptor)
        with self._write_lock(collection_id, 30.0):
            serving = self._serving(alias)
            older = [
                g for g in self._generations(alias) if serving is None or generation_of(g) < generation_of(serving)
            ]
            if not older:
                raise IndexConfigError(f"{alias!r} has no previous generation to roll back to")
            milvus_call(self.client.alter_alias, older[-1], alias, timeout=self.timeout)
        with self._lock:
            self._cache.pop((collection_id, descriptor), None)
        return older[-1]

    def health(self) -> dict[str, str]:
        try:
            milvus_call(self.client.list_collections, timeout=self.timeout)
        except VectorStoreUnavailable as exc:
            return {"kind": "milvus", "status": "unreachable", "message": str(exc)}
        return {"kind": "milvus", "status": "ok"}
