"""The offline phase: read a SOURCE, deduplicate, store, describe, index — resumably.

SOURCE is any :class:`~dataset_tools.readers.Source`: a folder, zip or CSV manifest opened
from a path (the CLI and HTTP hand over paths), or records a program built in memory (the
Europeana pull hands over its downloads with their provenance, and the images it already
decoded to check them, so nothing is written to disk or decoded twice).

Stages, in the order they run for each batch (clip-retrieval style: reader → mapper →
writer): *read + decode + hash* in a small thread pool (Pillow releases the GIL), *dedup*
against everything already kept, *store* media and rows as ``pending``, *describe* with
ONNX Runtime in one batch, *add* to the in-memory indexes. Every ``flush_every`` items the
indexes are saved atomically and only then are the rows marked ``indexed``; a crash between
the two is repaired by :meth:`IndexStore.reconcile` on the next run, which also re-embeds
``pending`` rows from the media store. Re-running skips every ``source_path`` already done.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass

import numpy as np
from PIL import Image
from threadpoolctl import ThreadpoolController

from dataset_tools.dedup import DuplicateIndex, content_hash, near_duplicate_hash
from dataset_tools.images import DecodedImage, ImageDecodeError, decode_image
from dataset_tools.progress import Level, ProgressObserver, SilentProgress
from dataset_tools.readers import Source, SourceReadError, SourceRecord, open_source

from ..config import Settings
from .attribution import record_id_for
from .catalog.store import Catalog, NewItem
from .descriptors import Descriptor, describe_all
from .feature_backfill import BackfillSummary
from .index import VectorIndex
from .index_store import IndexStore
from .ingest_results import FileError, IngestSummary, duplicate_line
from .item_removal import ItemRemoval
from .media import StoredMedia, store_media
from .model_spaces import ModelSpaces, SpaceBound
from .recognition import CollectionFeatures, FeatureStore, LocalFeatures, extract_catalogue_features
from .uploads import upload_path

#: Catalog images are decoded with JPEG draft mode down to this short side: enough for the
#: 224 px network input and the media copy, and much faster for large scans.
INGEST_MIN_SIDE = 320


@dataclass
class _Prepared:
    record: SourceRecord
    data: bytes
    decoded: DecodedImage
    sha256: str
    phash: int | None  # None: a flat image, matched exactly only
    origin: str = "ingest"
    features: LocalFeatures | None = None

    def new_item(self, *, media_path: str | None = None, thumb_path: str | None = None, **links: object) -> NewItem:
        """The catalog row for this image; ``links`` are the status and duplicate fields."""
        return NewItem(
            source_path=self.record.source_path,
            sha256=self.sha256,
            phash=self.phash,
            title=self.record.title,
            width=self.decoded.image.width,
            height=self.decoded.image.height,
            format=self.decoded.format,
            labels=tuple(self.record.labels),
            extra=dict(self.record.extra or {}),
            record_id=record_id_for(self.record.extra),
            origin=self.origin,
            media_path=media_path,
            thumb_path=thumb_path,
            **links,  # type: ignore[arg-type]  # status and duplicate fields, typed by NewItem
        )


#: A labeller gives machine labels for kept images: item id → [(label, confidence)].
Labeller = Callable[[Sequence[Image.Image]], list[list[tuple[str, float]]]]


class IngestService(ItemRemoval, SpaceBound):
    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        descriptors: Mapping[str, Descriptor],
        index_store: IndexStore,
        *,
        labeller: Labeller | None = None,
        labeller_version_id: int | None = None,
        features: FeatureStore | None = None,
        spaces: ModelSpaces | None = None,
    ) -> None:
        super().__init__(descriptors, index_store, spaces)
        self.settings = settings
        self.catalog = catalog
        self.labeller = labeller
        self.labeller_version_id = labeller_version_id
        self.features = features

    # -- public ---------------------------------------------------------------------------
    def ingest(
        self,
        source: Source | str | os.PathLike[str],
        collection: str,
        *,
        observer: ProgressObserver | None = None,
        flush_every: int = 2048,
        limit: int | None = None,
    ) -> IngestSummary:
        """Ingest every record of ``source`` not already in ``collection``.

        A path is opened with :func:`~dataset_tools.readers.open_source` (which raises
        ``SourceError`` for a SOURCE that cannot be used) and closed afterwards; a
        :class:`Source` is read and left to its owner to close. Per-record failures are in
        ``summary.failed`` and reach ``observer`` as :attr:`Level.ERROR` lines; duplicates
        as :attr:`Level.NOTE` lines.
        """
        if isinstance(source, (str, os.PathLike)):
            with closing(open_source(os.fspath(source))) as opened:
                return self._ingest(
                    opened, collection, name=str(source), observer=observer, flush_every=flush_every, limit=limit
                )
        return self._ingest(
            source, collection, name=source.root, observer=observer, flush_every=flush_every, limit=limit
        )

    def decode(self, data: bytes) -> DecodedImage:
        """Decode an image as ingest does (at the size ingest keeps; raises ImageDecodeError).

        A producer that must look at an image before handing it over calls this and passes
        the result in :attr:`SourceRecord.decoded`, so the image is decoded only once.
        """
        return decode_image(
            data,
            max_pixels=self.settings.max_pixels,
            min_side=INGEST_MIN_SIDE,
            max_decode_bytes=self.settings.max_decode_bytes,
        )

    def _ingest(
        self,
        src: Source,
        collection: str,
        *,
        name: str,
        observer: ProgressObserver | None,
        flush_every: int,
        limit: int | None,
    ) -> IngestSummary:
        obs = observer or SilentProgress()
        t0 = time.perf_counter()
        summary = IngestSummary(collection=collection, source=name)
        summary.skipped_non_images = src.skipped_non_image
        cid = self.catalog.ensure_collection(collection)
        with self.pinned_writer(cid, timeout=30.0) as indexes:
            feats = self._feature_writer(cid)
            summary.local_features = feats is not None or self.features is None
            summary.reconcile = self.index_store.reconcile(self.catalog, cid, indexes, also=[feats] if feats else ())
            summary.reembedded = self._reembed_pending(cid, indexes, feats)
            summary.repaired = self._repair_orphans(cid, indexes, feats)
            dedup = DuplicateIndex(near_threshold=self.settings.near_duplicate_threshold)
            for item_id, sha, ph in self.catalog.dedup_entries(cid):
                dedup.add(item_id, sha, ph)
            records = list(src)
            if limit is not None:
                records = records[:limit]
            summary.total = len(records)
            # A path an upload holds is the curator's when their SOURCE has it: the upload moves.
            for item_id, old, new in self.catalog.displace_uploads(cid, [r.source_path for r in records]):
                summary.displaced += 1
                obs.message(f"displaced: upload #{item_id} held {old}; it is now {new}", Level.NOTE)
            done = self.catalog.source_path_status(cid)
            todo = []
            for rec in records:
                if done.get(rec.source_path) in ("indexed", "duplicate", "pending"):
                    summary.already_done += 1
                else:
                    todo.append(rec)
            obs.start(len(records), summary.already_done)
            unflushed: list[int] = []
            paths_of: dict[int, str] = {}
            for batch in self._prepared_batches(todo, summary, obs, with_features=feats is not None):
                kept_ids = self._store_batch(cid, batch, dedup, indexes, summary, obs, paths_of, feats)
                unflushed.extend(kept_ids)
                obs.advance(len(batch))
                if len(unflushed) >= flush_every:
                    self._flush(cid, indexes, unflushed, feats)
                    unflushed = []
            self._flush(cid, indexes, unflushed, feats)
        summary.elapsed_s = time.perf_counter() - t0
        return summary

    def add_one(
        self,
        collection: str,
        data: bytes,
        *,
        source_path: str | None = None,
        filename: str = "upload.jpg",
        labels: Sequence[str] = (),
        title: str | None = None,
    ) -> tuple[int, str | None, int | None]:
        """Add a single uploaded image (HTTP). Returns (item id, duplicate kind, duplicate of).

        Uploads live under ``uploads/`` (:func:`upload_path`), whatever ``source_path`` the
        client chose, so an upload can never claim a path of a curator's SOURCE.
        """
        source_path = upload_path(source_path, filename)
        decoded = self.decode(data)
        cid = self.catalog.ensure_collection(collection)
        rec = SourceRecord.from_bytes(source_path, data, labels=tuple(labels), title=title)
        prepared = _Prepared(
            record=rec,
            data=data,
            decoded=decoded,
            sha256=content_hash(data),
            phash=near_duplicate_hash(decoded.image),
            origin="upload",
        )
        summary = IngestSummary(collection=collection, source="upload")
        with self.pinned_writer(cid) as indexes:
            if source_path in self.catalog.source_path_status(cid):
                raise FileExistsError(f"an item with source_path {source_path!r} already exists in {collection!r}")
            feats = self._feature_writer(cid)
            dedup = DuplicateIndex(near_threshold=self.settings.near_duplicate_threshold)
            for item_id, sha, ph in self.catalog.dedup_entries(cid):
                dedup.add(item_id, sha, ph)
            paths_of: dict[int, str] = {}
            ids = self._store_batch(cid, [prepared], dedup, indexes, summary, SilentProgress(), paths_of, feats)
            self._flush(cid, indexes, ids, feats)
        item_ids = [i for i, p in paths_of.items() if p == source_path]
        item_id = item_ids[0]
        view = self.catalog.get_item(item_id)
        return item_id, view.duplicate_kind, view.duplicate_of

    def load_media(self, media_path: str | None) -> Image.Image | None:
        if not media_path:
            return None
        try:
            return self.decode((self.settings.data_dir / media_path).read_bytes()).image
        except (OSError, ImageDecodeError):
            return None

    # -- local features -------------------------------------------------------------------
    def _feature_writer(self, cid: int) -> CollectionFeatures | None:
        """The collection's local features to write to, or None when it must not get any yet.

        A new (empty) collection starts a store. One ingested before local features existed
        has items without them; its new items are left without too, until
        :meth:`backfill_local_features` gives every item its features at once (else the
        reconcile would count all older items as unfinished and re-embed them).
        """
        if self.features is None:
            return None
        feats = self.features.writer(cid)
        if feats.exists:
            return feats
        live = self.catalog.ids_with_status(cid, "indexed") or self.catalog.ids_with_status(cid, "pending")
        return None if live else feats

    def backfill_local_features(
        self, collection: str, *, observer: ProgressObserver | None = None, rebuild: bool = False
    ) -> BackfillSummary:
        """Extract local features for every indexed item that has none (see :mod:`.feature_backfill`)."""
        from .feature_backfill import backfill_local_features

        return backfill_local_features(self, collection, observer=observer, rebuild=rebuild)

    def reindex(self, collection: str) -> int:
        """Rebuild a collection's indexes and local features from the media store (a new
        model, a new index factory); returns how many items were re-embedded."""
        cid = self.catalog.collection_id(collection)
        ids = self.catalog.ids_with_status(cid, "indexed")
        # Under the write lock, every index starts empty (even one of another model) and is
        # replaced atomically as the items are re-embedded.
        with self.pinned_writer(cid, rebuild=list(self.descriptors)) as indexes:
            if self.features is not None:
                self.features.drop(cid)
            feats = self.features.writer(cid) if self.features is not None else None
            self.catalog.set_status(ids, "pending")
            return self._reembed_pending(cid, indexes, feats)

    # -- stages ---------------------------------------------------------------------------
    def _prepare(self, rec: SourceRecord, with_features: bool) -> _Prepared | FileError:
        try:
            data = rec.read()
            decoded = rec.decoded if rec.decoded is not None else self.decode(data)
            # Local features here, in the decode pool: they overlap the previous batch's embedding.
            features = extract_catalogue_features(decoded.image) if with_features else None
            return _Prepared(
                rec, data, decoded, content_hash(data), near_duplicate_hash(decoded.image), features=features
            )
        except ImageDecodeError as exc:
            return FileError(rec.source_path, exc.code, exc.message)
        except SourceReadError as exc:
            return FileError(rec.source_path, exc.code, str(exc))
        except OSError as exc:
            return FileError(rec.source_path, "unreadable", str(exc))

    def _prepared_batches(
        self, records: list[SourceRecord], summary: IngestSummary, obs: ProgressObserver, *, with_features: bool
    ) -> Iterator[list[_Prepared]]:
        """Decode the next batch in the pool while the caller embeds the current one."""
        bs = self.settings.ingest_batch
        chunks = [records[i : i + bs] for i in range(0, len(records), bs)]

        def prepare(chunk: list[SourceRecord]) -> list[_Prepared | FileError]:
            return [self._prepare(r, with_features) for r in chunk]

        # Bounded prefetch: decode the next two batches while this one is embedded, no more
        # (unbounded, the decoders race ahead of ONNX Runtime on 2 cores and hold the whole
        # source decoded in memory).
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="decode") as pool:
            window = [pool.submit(prepare, c) for c in chunks[:2]]
            next_chunk = 2
            while window:
                results = window.pop(0).result()
                if next_chunk < len(chunks):
                    window.append(pool.submit(prepare, chunks[next_chunk]))
                    next_chunk += 1
                batch: list[_Prepared] = []
                errors = 0
                for res in results:
                    if isinstance(res, FileError):
                        summary.failed.append(res)
                        obs.message(res.line(), Level.ERROR)
                        errors += 1
                    else:
                        batch.append(res)
                if errors:
                    obs.advance(errors)
                if batch:
                    yield batch

    def _store_batch(
        self,
        cid: int,
        batch: list[_Prepared],
        dedup: DuplicateIndex,
        indexes: Mapping[str, VectorIndex],
        summary: IngestSummary,
        obs: ProgressObserver,
        paths_of: dict[int, str],
        feats: CollectionFeatures | None = None,
    ) -> list[int]:
        # Decide keep/duplicate in order, so a duplicate inside the batch points at its twin.
        keep: list[_Prepared] = []
        dups: list[tuple[_Prepared, object, str, int]] = []
        for p in batch:
            match = dedup.find(p.sha256, p.phash)
            if match is None:
                keep.append(p)
                dedup.add(("new", id(p)), p.sha256, p.phash)
            else:
                dups.append((p, match.of, match.kind, match.distance))
        stored = [self._store(cid, p) for p in keep]
        new_rows = [p.new_item(media_path=m.media_path, thumb_path=m.thumb_path) for p, m in zip(keep, stored)]
        kept_ids = self.catalog.add_items(cid, new_rows)
        for p, item_id in zip(keep, kept_ids):
            dedup.remove(("new", id(p)))
            dedup.add(item_id, p.sha256, p.phash)
            paths_of[item_id] = p.record.source_path
        key_to_id = {("new", id(p)): i for p, i in zip(keep, kept_ids)}
        dup_rows = []
        for p, of, kind, dist in dups:
            of_id = int(key_to_id.get(of, of))  # type: ignore[call-overload]  # `of` is a new-item key or a kept id
            # A duplicate keeps its own picture (an exact one shares the kept item's file), so
            # it can be promoted when the item it duplicates is deleted.
            m = self._store(cid, p)
            dup_rows.append(
                p.new_item(
                    media_path=m.media_path,
                    thumb_path=m.thumb_path,
                    status="duplicate",
                    duplicate_of=of_id,
                    duplicate_kind=kind,
                    duplicate_distance=dist,
                )
            )
            if kind == "exact":
                summary.exact_duplicates += 1
            else:
                summary.near_duplicates += 1
        if dup_rows:
            dup_ids = self.catalog.add_items(cid, dup_rows)
            for (p, _of, kind, dist), did, row in zip(dups, dup_ids, dup_rows):
                paths_of[did] = p.record.source_path
                of_path = paths_of.get(row.duplicate_of or -1) or self.catalog.get_item(row.duplicate_of).source_path  # type: ignore[arg-type]  # a duplicate row always has duplicate_of
                obs.message(duplicate_line(p.record.source_path, of_path, kind, dist))
        if keep:
            images = [p.decoded.image for p in keep]
            self._describe_and_add(np.asarray(kept_ids, np.int64), images, indexes)
            if feats is not None:
                feats.add(
                    kept_ids,
                    [
                        p.features if p.features is not None else extract_catalogue_features(p.decoded.image)
                        for p in keep
                    ],
                )
            self._label(kept_ids, images)
        summary.added += len(keep)
        return kept_ids

    def _label(self, ids: Sequence[int], images: list[Image.Image]) -> None:
        """Machine labels for newly kept images, when a classifier is active."""
        if self.labeller is None:
            return
        preds = self.labeller(images)
        version_id = getattr(self.labeller, "model_version_id", None) or self.labeller_version_id
        labelled = {i: p for i, p in zip(ids, preds) if p}
        if labelled:
            self.catalog.add_machine_labels(labelled, version_id)

    def _store(self, cid: int, p: _Prepared) -> StoredMedia:
        return store_media(
            self.settings.data_dir,
            cid,
            p.sha256,
            p.data,
            p.decoded.image,
            p.decoded.format,
            p.decoded.original_size,
            max_side=self.settings.media_max_side,
            thumb_size=self.settings.thumb_size,
        )

    def _describe_and_add(self, ids: np.ndarray, images: list[Image.Image], indexes: Mapping[str, VectorIndex]) -> None:
        # BLAS threads (numpy's, for the art-style projection's few MFLOP) would spin against
        # ONNX Runtime's for the same cores; one is plenty here. Only while describing: the
        # vocabulary's k-means and faiss training keep theirs.
        with _blas().limit(limits=1, user_api="blas"):
            described = describe_all(self.descriptors, images)  # one backbone run for all
        for name, vectors in described.items():
            indexes[name].add(ids, vectors)

    def _flush(
        self, cid: int, indexes: Mapping[str, VectorIndex], ids: list[int], feats: CollectionFeatures | None = None
    ) -> None:
        """Local features and indexes durable first, then the rows say so: never 'indexed'
        without a vector (or, in a collection that has them, without local features)."""
        if not ids:
            return
        if feats is not None:
            feats.save()
        self.index_store.save(cid, indexes)
        self.catalog.set_status(ids, "indexed")

    def _reembed_pending(
        self, cid: int, indexes: Mapping[str, VectorIndex], feats: CollectionFeatures | None = None
    ) -> int:
        """Rows a crash left ``pending``: embed them again (and extract their local features)
        from our media copy."""
        pending = self.catalog.ids_with_status(cid, "pending")
        if not pending:
            return 0
        views = self.catalog.get_items(pending)
        ok_ids, images, lost = [], [], []
        for item_id in pending:
            v = views[item_id]
            path = self.settings.data_dir / v.media_path if v.media_path else None
            try:
                if path is None:
                    raise FileNotFoundError(item_id)
                images.append(self.decode(path.read_bytes()).image)
                ok_ids.append(item_id)
            except (OSError, ImageDecodeError):
                lost.append(v.source_path)
        bs = self.settings.ingest_batch
        for i in range(0, len(ok_ids), bs):
            self._describe_and_add(np.asarray(ok_ids[i : i + bs], np.int64), images[i : i + bs], indexes)
            if feats is not None:
                feats.add(ok_ids[i : i + bs], [extract_catalogue_features(im) for im in images[i : i + bs]])
        self._flush(cid, indexes, ok_ids, feats)
        # Rows whose media vanished are dropped so the source file is ingested afresh.
        self.catalog.replace_pending(cid, lost)
        return len(ok_ids)


@functools.cache
def _blas() -> ThreadpoolController:
    """The process's thread pools, inspected once (a new inspection costs about a millisecond)."""
    return ThreadpoolController()
