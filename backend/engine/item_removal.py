"""Deleting items, and finding a new home for the duplicates a deleted kept item leaves.

A duplicate is linked to the kept item it duplicates and is neither embedded nor indexed
itself. When that kept item goes, its duplicates must become kept items (embedded from
their own stored pictures) or link to another kept item, or they would never be shown or
searchable again. This runs on a delete and, for what an interrupted delete left, at the
start of the next ingest. It is a mixin of :class:`~.ingest.IngestService`, whose storing,
describing and labelling it reuses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from PIL import Image

from dataset_tools.dedup import DuplicateIndex

from ..config import Settings
from .catalog.store import Catalog, ItemView
from .index import VectorIndex
from .index_store import IndexStore
from .media import remove_media
from .recognition import CollectionFeatures, FeatureStore, extract_catalogue_features

#: What ``IngestService.delete`` does with the duplicates of a kept item it deletes.
DUPLICATE_POLICIES = ("promote", "delete")


@dataclass(frozen=True)
class DeleteReport:
    """What a delete did: rows removed, duplicates promoted to kept items or relinked to
    another kept item, and stored files removed because nothing uses them any more."""

    deleted: tuple[int, ...]
    promoted: tuple[int, ...] = ()
    relinked: tuple[int, ...] = ()
    files_removed: int = 0


class _Ingesting(Protocol):
    """What the removal code uses of the ingest service it is part of."""

    settings: Settings
    catalog: Catalog
    features: FeatureStore | None

    @property
    def index_store(self) -> IndexStore: ...

    def pinned_writer(
        self, collection_id: int, *, timeout: float = ..., rebuild: Any = ...
    ) -> AbstractContextManager[dict[str, Any]]: ...

    def load_media(self, media_path: str | None) -> Image.Image | None: ...

    def _describe_and_add(
        self, ids: np.ndarray, images: list[Image.Image], indexes: Mapping[str, VectorIndex]
    ) -> None: ...

    def _label(self, ids: Sequence[int], images: list[Image.Image]) -> None: ...

    def _rehome(
        self,
        cid: int,
        orphans: list[int],
        indexes: Mapping[str, VectorIndex],
        *,
        fallback: tuple[str | None, str | None] | None,
        feats: CollectionFeatures | None = None,
    ) -> tuple[list[int], list[int], list[int]]: ...

    @staticmethod
    def _own_or_fallback(
        view: ItemView, fallback: tuple[str | None, str | None] | None
    ) -> tuple[str | None, str | None]: ...


class ItemRemoval:
    """Delete and re-home (see the module docstring); mixed into the ingest service."""

    def delete(self: _Ingesting, item_id: int, *, duplicates: str = "promote") -> DeleteReport:
        """Delete an item from catalog, indexes and media store.

        Deleting a kept item would leave its duplicates pointing nowhere (never shown, never
        searchable). ``duplicates="promote"`` (the default) makes the first of them a kept
        item, embedded from its own stored picture, and relinks the others to it or to
        whichever kept item they now duplicate (a near duplicate of the deleted item need
        not be near the promoted one; then it is promoted too). ``"delete"`` deletes them
        with it. Stored files go when no remaining item uses them (exact duplicates share
        one file, named by content hash).
        """
        if duplicates not in DUPLICATE_POLICIES:
            raise ValueError(f"duplicates must be one of {', '.join(DUPLICATE_POLICIES)}, not {duplicates!r}")
        cid = self.catalog.collection_id(self.catalog.get_item(item_id).collection)
        with self.pinned_writer(cid) as indexes:
            view = self.catalog.get_item(item_id)  # again, under the lock
            doomed = [item_id, *view.duplicates] if duplicates == "delete" else [item_id]
            for idx in indexes.values():
                idx.remove(np.asarray(doomed, np.int64))
            feats = self.features.writer(cid) if self.features is not None else None
            if feats is not None and not feats.exists:
                feats = None  # a collection from before local features: backfilled as a whole
            if feats is not None:
                feats.remove(np.asarray(doomed, np.int64))
            gone = self.catalog.delete_items(doomed)
            promoted: list[int] = []
            relinked: list[int] = []
            if duplicates == "promote" and view.duplicates:
                promoted, relinked, _ = self._rehome(
                    cid, list(view.duplicates), indexes, fallback=(view.media_path, view.thumb_path), feats=feats
                )
            if feats is not None:
                feats.save()  # before the indexes: never an indexed item without its features
            self.index_store.save(cid, indexes)
            self.catalog.set_status(promoted, "indexed")
            files = {p for v in gone for p in (v.media_path, v.thumb_path) if p}
            removed = remove_media(self.settings.data_dir, sorted(files - self.catalog.media_in_use(files)))
        return DeleteReport(
            deleted=tuple(v.id for v in gone), promoted=tuple(promoted), relinked=tuple(relinked), files_removed=removed
        )

    def _repair_orphans(
        self: _Ingesting, cid: int, indexes: Mapping[str, VectorIndex], feats: CollectionFeatures | None = None
    ) -> int:
        """Duplicates an earlier delete left pointing nowhere: promote or relink them now.

        Rows from before duplicates kept a picture of their own cannot be embedded; they are
        dropped, so the source file is ingested afresh if it is in this SOURCE.
        """
        orphans = self.catalog.orphan_duplicates(cid)
        if not orphans:
            return 0
        promoted, relinked, lost = self._rehome(cid, orphans, indexes, fallback=None, feats=feats)
        if promoted:
            if feats is not None:
                feats.save()
            self.index_store.save(cid, indexes)
            self.catalog.set_status(promoted, "indexed")
        if lost:
            self.catalog.delete_items(lost)
        return len(promoted) + len(relinked)

    def _rehome(
        self: _Ingesting,
        cid: int,
        orphans: list[int],
        indexes: Mapping[str, VectorIndex],
        *,
        fallback: tuple[str | None, str | None] | None,
        feats: CollectionFeatures | None = None,
    ) -> tuple[list[int], list[int], list[int]]:
        """Relink each orphaned duplicate to a kept item it duplicates, else promote it.

        Oldest first, against the collection's kept items and those promoted so far. A row
        without a picture of its own uses ``fallback`` (the deleted item's picture, which it
        duplicates); without either it is returned as lost. Promoted rows are left
        ``pending`` with their vectors in ``indexes``: the caller saves, then marks them.
        Returns (promoted, relinked, lost) ids.
        """
        dedup = DuplicateIndex(near_threshold=self.settings.near_duplicate_threshold)
        for kept_id, sha, ph in self.catalog.dedup_entries(cid):
            dedup.add(kept_id, sha, ph)
        views = self.catalog.get_items(orphans)
        promoted: list[int] = []
        relinked: list[int] = []
        lost: list[int] = []
        images: list[Image.Image] = []
        for oid in sorted(views):
            sha, ph = self.catalog.dedup_row(oid)
            match = dedup.find(sha, ph)
            if match is not None:
                self.catalog.relink_duplicate(oid, int(match.of), match.kind, match.distance)  # type: ignore[call-overload]  # keys are kept item ids here
                relinked.append(oid)
                continue
            media, thumb = self._own_or_fallback(views[oid], fallback)
            image = self.load_media(media)
            if image is None:
                lost.append(oid)
                continue
            self.catalog.promote_duplicate(oid, media, thumb)
            dedup.add(oid, sha, ph)
            promoted.append(oid)
            images.append(image)
        if promoted:
            self._describe_and_add(np.asarray(promoted, np.int64), images, indexes)
            if feats is not None:
                feats.add(promoted, [extract_catalogue_features(im) for im in images])
            self._label(promoted, images)
        return promoted, relinked, lost

    @staticmethod
    def _own_or_fallback(
        view: ItemView, fallback: tuple[str | None, str | None] | None
    ) -> tuple[str | None, str | None]:
        if view.media_path or fallback is None:
            return view.media_path, view.thumb_path
        return fallback
