"""Give a collection its local features after the fact: the upgrade path.

A collection ingested before local features existed has vectors but nothing to verify a
match with; ``artsnap reindex --collection NAME --only local-features`` extracts them for
every indexed item from the media store, once, without touching vectors or catalogue rows.
It also repairs a store whose items went missing (features of deleted items are dropped,
missing ones extracted), and holds the collection's write lock throughout, so it never
races an ingest. Progress is saved every few thousand items: a crash loses little, and a
rerun starts where it stopped (items that have features are skipped).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from dataset_tools.progress import Level, ProgressObserver, SilentProgress

from .recognition import extract_catalogue_features

if TYPE_CHECKING:
    from .ingest import IngestService

__all__ = ["SAVE_EVERY", "BackfillSummary", "backfill_local_features"]

SAVE_EVERY = 2048
"""Items extracted between saves: what a crash can cost at most."""


@dataclass
class BackfillSummary:
    """What :func:`backfill_local_features` did."""

    collection: str
    extracted: int = 0
    already_had: int = 0
    missing_media: list[str] = field(default_factory=list)
    bytes_per_item: int = 0
    vocabulary: bool = False
    elapsed_s: float = 0.0


def backfill_local_features(
    service: IngestService, collection: str, *, observer: ProgressObserver | None = None, rebuild: bool = False
) -> BackfillSummary:
    """Extract local features for every indexed item of ``collection`` that has none, from
    the media store. ``rebuild`` starts the store afresh (a new vocabulary from all items)."""
    features, catalog = service.features, service.catalog
    if features is None:
        raise RuntimeError("this engine keeps no local features")
    obs = observer or SilentProgress()
    t0 = time.perf_counter()
    cid = catalog.collection_id(collection)
    summary = BackfillSummary(collection=collection)
    with service.pinned_writer(cid, timeout=30.0):
        if rebuild:
            features.drop(cid)
        feats = features.writer(cid)
        have = set(feats.ids().tolist())
        indexed = catalog.ids_with_status(cid, "indexed")
        stale = np.asarray(sorted(have - set(indexed)), np.int64)
        if len(stale):
            feats.remove(stale)
        todo = [i for i in indexed if i not in have]
        summary.already_had = len(indexed) - len(todo)
        obs.start(len(indexed), summary.already_had)
        bs, unsaved = service.settings.ingest_batch, 0
        for s in range(0, len(todo), bs):
            chunk = todo[s : s + bs]
            views = catalog.get_items(chunk)
            ids, extracted = [], []
            for item_id in chunk:
                image = service.load_media(views[item_id].media_path)
                if image is None:
                    summary.missing_media.append(views[item_id].source_path)
                    obs.message(
                        f"error: {views[item_id].source_path}: missing_media: no stored copy to read", Level.ERROR
                    )
                    continue
                ids.append(item_id)
                extracted.append(extract_catalogue_features(image))
            feats.add(ids, extracted)
            summary.extracted += len(ids)
            unsaved += len(ids)
            obs.advance(len(chunk))
            if unsaved >= SAVE_EVERY:
                feats.save()
                unsaved = 0
        feats.save()
        info = features.describe(cid)
    summary.bytes_per_item = int(info["bytes_per_item"])
    summary.vocabulary = bool(info["vocabulary"])
    summary.elapsed_s = time.perf_counter() - t0
    return summary
