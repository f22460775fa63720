"""Every catalogue item's local features, stored once at ingest, beside the FAISS indexes.

Layout, one folder per collection (``indexes/<collection id>/local-features/``)::

    manifest.json              which segments are live, deleted ids, the vocabulary
    seg-000007.items.npy       one row per item: id, first point, point count, feature image size
    seg-000007.points.npy      one row per keypoint: x, y (float16), ORB descriptor, visual word
    vocab-000005.npy           (k, 32) uint8 binary visual words (see :mod:`.visual_words`)

Why segments: a save (every flush of an ingest) writes only the new items, as a new
immutable segment, then replaces the manifest atomically (temp file + rename), the same
way the FAISS indexes are saved; a crash leaves at worst a segment no manifest names,
which the next writer deletes. Deletes are recorded in the manifest; an id re-added later
lives in the newest segment that holds it. When dead points pile up, or the vocabulary
changes, the live items are rewritten into one segment (compaction).

Why ``.npy``: readers (gunicorn workers) open the point files memory-mapped, so a worker
pays for the pages it verifies, not for the whole collection, and every worker shares them
through the page cache. One keypoint costs 38 bytes (2 x float16 position, 32-byte
descriptor, uint16 word), so 350 keypoints are about 13 KB per item.

Consistency with the catalogue is :meth:`IndexStore.reconcile`'s job: a collection that has
this store counts it as one more index, so an item is ``indexed`` only when its features
are saved too. A collection ingested before this store existed has no manifest; its
searches work without verification until ``artsnap reindex --collection NAME --only
local-features`` backfills it (:func:`backfill_command`).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .local_features import DESCRIPTOR_BYTES, LocalFeatures
from .visual_words import NO_WORD, TRAINING_SAMPLE, Vocabulary, WordIndex, train_vocabulary, vocabulary_size

__all__ = [
    "FOLDER",
    "ITEM_DTYPE",
    "POINT_DTYPE",
    "CollectionFeatures",
    "FeatureStore",
    "backfill_command",
]

FOLDER = "local-features"
"""Name of the store's folder inside a collection's index folder."""
ITEM_DTYPE = np.dtype([("id", "<i8"), ("start", "<i8"), ("count", "<i4"), ("width", "<u2"), ("height", "<u2")])
POINT_DTYPE = np.dtype([("xy", "<f2", (2,)), ("descriptor", "u1", (DESCRIPTOR_BYTES,)), ("word", "<u2")])

MIN_VOCABULARY_ITEMS = 16
"""A collection gets its own visual vocabulary once it holds this many items (retrained as it
grows, below). With words, a photo's artwork is found and verified straight from its local
features; without them it must first be located and described by the global embedding, whose
shortlist is then verified: several times the work per photo. Below a handful of items that
shortlist is the whole collection anyway."""
MIN_VOCABULARY_DESCRIPTORS = 20 * 256
"""...and this many keypoints: about 20 per word of the smallest vocabulary (16 x 16 words).
Items of flat colour or tiny images have few or none, and words trained on a handful of
descriptors would vote at random."""
SETTLED_VOCABULARY_ITEMS = 4000
"""The vocabulary is retrained each time the collection doubles, until it was trained on
this many items (by then a bigger sample changes the words little)."""
_COMPACT_DEAD_SHARE = 0.3
_MAX_SEGMENTS = 16
_SEGMENT = re.compile(r"^seg-(\d{6})\.(items|points)\.npy$")


def backfill_command(collection: str) -> str:
    """The one command that gives an existing collection its local features."""
    return f"artsnap reindex --collection {collection} --only local-features"


@dataclass
class _Manifest:
    generation: int = 0
    segments: list[str] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)
    vocabulary: str | None = None
    vocabulary_items: int = 0

    @staticmethod
    def read(path: Path) -> _Manifest | None:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        return _Manifest(
            generation=int(data["generation"]),
            segments=list(data["segments"]),
            deleted=[int(i) for i in data.get("deleted", [])],
            vocabulary=data.get("vocabulary"),
            vocabulary_items=int(data.get("vocabulary_items", 0)),
        )

    def write(self, path: Path) -> None:
        _write_atomic(path, json.dumps(self.__dict__).encode())


def _write_atomic(path: Path, payload: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _save_npy(path: Path, array: np.ndarray) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, array, allow_pickle=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@dataclass(frozen=True)
class _Segment:
    name: str
    items: np.ndarray  # ITEM_DTYPE rows
    points: np.ndarray  # POINT_DTYPE rows (memory-mapped when loaded from disk)

    @staticmethod
    def load(folder: Path, name: str) -> _Segment:
        items = np.load(folder / f"{name}.items.npy", allow_pickle=False)
        points = np.load(folder / f"{name}.points.npy", mmap_mode="r", allow_pickle=False)
        return _Segment(name, items, points)

    def write(self, folder: Path) -> None:
        _save_npy(folder / f"{self.name}.points.npy", self.points)
        _save_npy(folder / f"{self.name}.items.npy", self.items)


def _pack(
    ids: Sequence[int], features: Sequence[LocalFeatures], words: Sequence[np.ndarray] | None
) -> tuple[np.ndarray, np.ndarray]:
    """(items, points) rows for new items, points in the order of ``ids``."""
    counts = np.asarray([len(f) for f in features], np.int64)
    items = np.zeros(len(ids), ITEM_DTYPE)
    items["id"] = np.asarray(ids, np.int64)
    items["start"] = np.concatenate([[0], np.cumsum(counts)[:-1]]) if len(ids) else []
    items["count"] = counts
    items["width"] = [f.size[0] for f in features]
    items["height"] = [f.size[1] for f in features]
    points = np.zeros(int(counts.sum()), POINT_DTYPE)
    if len(points):
        points["xy"] = np.concatenate([f.xy for f in features]).astype(np.float16)
        points["descriptor"] = np.concatenate([f.descriptors for f in features])
        points["word"] = np.concatenate(words) if words is not None else NO_WORD
    return items, points


class CollectionFeatures:
    """One collection's stored features: read them, and (under the collection's write lock)
    add, remove and save them.

    ``exists`` is False for a collection that has never had a store (one ingested before
    local features, until it is backfilled); such a store reads as empty.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._lock = threading.RLock()
        manifest = _Manifest.read(self.manifest_path)
        self.exists = manifest is not None
        self._manifest = manifest or _Manifest()
        self._segments = [_Segment.load(self.folder, name) for name in self._manifest.segments]
        self._vocabulary = (
            Vocabulary(np.load(self.folder / self._manifest.vocabulary, allow_pickle=False))
            if self._manifest.vocabulary
            else None
        )
        self._pending_ids: list[int] = []
        self._pending: list[LocalFeatures] = []
        self._index()
        self._words: WordIndex | None = None
        self.loaded_mtime = self.manifest_path.stat().st_mtime if self.exists else 0.0

    @property
    def manifest_path(self) -> Path:
        return self.folder / "manifest.json"

    # -- reading --------------------------------------------------------------------------
    def _index(self) -> None:
        """Per live id (sorted): which segment and rows hold its points."""
        if not self._segments:
            self._ids = np.zeros(0, np.int64)
            self._where = np.zeros(0, ITEM_DTYPE)
            self._seg_of = np.zeros(0, np.int32)
            return
        rows = np.concatenate([s.items for s in self._segments])
        seg = np.concatenate([np.full(len(s.items), i, np.int32) for i, s in enumerate(self._segments)])
        order = np.lexsort((seg, rows["id"]))  # by id, then segment: the newest copy of an id last
        rows, seg = rows[order], seg[order]
        newest = np.r_[rows["id"][1:] != rows["id"][:-1], True] if len(rows) else np.zeros(0, bool)
        rows, seg = rows[newest], seg[newest]
        live = ~np.isin(rows["id"], np.asarray(self._manifest.deleted, np.int64))
        self._where, self._seg_of = rows[live], seg[live]
        self._ids = self._where["id"].astype(np.int64)

    def ids(self) -> np.ndarray:
        """Ids of every item with features (saved or not yet saved), sorted."""
        with self._lock:
            if not self._pending_ids:
                return self._ids.copy()
            return np.union1d(self._ids, np.asarray(self._pending_ids, np.int64))

    def __len__(self) -> int:
        return len(self.ids())

    def get(self, item_id: int) -> LocalFeatures | None:
        """The stored features of one item, or None when it has none."""
        with self._lock:
            for i in range(len(self._pending_ids) - 1, -1, -1):
                if self._pending_ids[i] == item_id:
                    return self._pending[i]
            pos = int(np.searchsorted(self._ids, item_id))
            if pos >= len(self._ids) or self._ids[pos] != item_id:
                return None
            row = self._where[pos]
            pts = self._segments[int(self._seg_of[pos])].points[int(row["start"]) : int(row["start"] + row["count"])]
            return LocalFeatures(
                np.asarray(pts["xy"], np.float32),
                np.ascontiguousarray(pts["descriptor"]),
                (int(row["width"]), int(row["height"])),
            )

    @property
    def has_vocabulary(self) -> bool:
        return self._vocabulary is not None

    def words(self) -> WordIndex | None:
        """The inverted index of visual words over the saved items (built once, lazily);
        None until the collection has a vocabulary."""
        with self._lock:
            if self._vocabulary is None:
                return None
            if self._words is None:
                starts = self._where["start"].astype(np.int64)
                counts = self._where["count"].astype(np.int64)
                per_seg = []
                for s_idx, seg in enumerate(self._segments):
                    sel = self._seg_of == s_idx
                    if not sel.any():
                        continue
                    rows = np.flatnonzero(sel)
                    point_rows = _ranges(starts[rows], counts[rows])
                    per_seg.append((np.repeat(rows, counts[rows]), np.asarray(seg.points["word"][point_rows])))
                item_rows = np.concatenate([p[0] for p in per_seg]) if per_seg else np.zeros(0, np.int64)
                words = np.concatenate([p[1] for p in per_seg]) if per_seg else np.zeros(0, np.uint16)
                self._words = WordIndex.build(self._ids, item_rows, words, self._vocabulary.size)
            return self._words

    def query_words(self, features: LocalFeatures) -> np.ndarray:
        """The visual words of a photo's descriptors (empty without a vocabulary)."""
        if self._vocabulary is None or not len(features):
            return np.zeros(0, np.uint16)
        return self._vocabulary.words(features.descriptors)

    def stored_bytes(self) -> int:
        """Bytes on disk of the live segments, manifest and vocabulary."""
        names = [f"{s}.{kind}.npy" for s in self._manifest.segments for kind in ("items", "points")]
        names += ["manifest.json"] + ([self._manifest.vocabulary] if self._manifest.vocabulary else [])
        return sum((self.folder / n).stat().st_size for n in names if (self.folder / n).exists())

    # -- writing (the caller holds the collection's write lock) -----------------------------
    def add(self, ids: Sequence[int], features: Sequence[LocalFeatures]) -> None:
        """Keep features for these items (replacing any they had) until :meth:`save`."""
        with self._lock:
            self._pending_ids.extend(int(i) for i in ids)
            self._pending.extend(features)

    def remove(self, ids: np.ndarray) -> int:
        """Forget these items' features (recorded at the next :meth:`save`); how many had some."""
        with self._lock:
            drop = {int(i) for i in np.asarray(ids).ravel()}
            present = drop & set(self.ids().tolist())
            keep = [(i, f) for i, f in zip(self._pending_ids, self._pending) if i not in drop]
            self._pending_ids, self._pending = [i for i, _ in keep], [f for _, f in keep]
            self._manifest.deleted = sorted(set(self._manifest.deleted) | (drop & set(self._ids.tolist())))
            self._index()
            return len(present)

    def save(self) -> None:
        """Write the new items as a segment and the manifest (atomically); train or retrain the
        vocabulary when the collection has grown enough, compacting when worth it."""
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            m = self._manifest
            m.generation += 1
            if self._pending_ids:
                # The newest copy of an id wins inside the pending batch too.
                last = {i: k for k, i in enumerate(self._pending_ids)}
                order = sorted(last.values())
                ids = [self._pending_ids[k] for k in order]
                feats = [self._pending[k] for k in order]
                words = [self._vocabulary.words(f.descriptors) for f in feats] if self._vocabulary is not None else None
                items, points = _pack(ids, feats, words)
                seg = _Segment(f"seg-{m.generation:06d}", items, points)
                seg.write(self.folder)
                self._segments.append(seg)
                m.segments.append(seg.name)
                m.deleted = sorted(set(m.deleted) - set(ids))
                self._pending_ids, self._pending = [], []
                self._index()
            n_items = len(self._ids)
            n_points = int(self._where["count"].sum()) if len(self._where) else 0
            first = n_items >= MIN_VOCABULARY_ITEMS and n_points >= MIN_VOCABULARY_DESCRIPTORS
            retrain = (self._vocabulary is None and first) or (
                self._vocabulary is not None
                and m.vocabulary_items < SETTLED_VOCABULARY_ITEMS
                and n_items >= 2 * m.vocabulary_items
            )
            if retrain:
                self._train_vocabulary(n_items)
            if retrain or self._worth_compacting():
                self._compact()
            m.write(self.manifest_path)
            self.exists = True
            self._words = None
            self.loaded_mtime = self.manifest_path.stat().st_mtime
            self.remove_leftovers()

    def _worth_compacting(self) -> bool:
        total = sum(len(s.points) for s in self._segments)
        live = int(self._where["count"].sum()) if len(self._where) else 0
        return len(self._segments) > _MAX_SEGMENTS or (total > 0 and (total - live) / total > _COMPACT_DEAD_SHARE)

    def _train_vocabulary(self, n_items: int) -> None:
        sample = self._sample_descriptors(rng=np.random.default_rng(self._manifest.generation))
        k = vocabulary_size(sum(len(rows) for _, rows in self._all_point_rows()))
        tree = train_vocabulary(sample, k)
        name = f"vocab-{self._manifest.generation:06d}.npy"
        _save_npy(self.folder / name, tree)
        self._vocabulary = Vocabulary(tree)
        self._manifest.vocabulary = name
        self._manifest.vocabulary_items = n_items

    def _all_point_rows(self) -> list[tuple[int, np.ndarray]]:
        """(segment index, rows of its points that are live) for every segment."""
        out = []
        for s_idx in range(len(self._segments)):
            sel = np.flatnonzero(self._seg_of == s_idx)
            if len(sel):
                out.append(
                    (
                        s_idx,
                        _ranges(self._where["start"][sel].astype(np.int64), self._where["count"][sel].astype(np.int64)),
                    )
                )
        return out

    def _sample_descriptors(self, rng: np.random.Generator) -> np.ndarray:
        parts = self._all_point_rows()
        total = sum(len(rows) for _, rows in parts)
        share = min(1.0, TRAINING_SAMPLE / max(total, 1))
        chosen = []
        for s_idx, rows in parts:
            take = rows[rng.random(len(rows)) < share]
            chosen.append(np.asarray(self._segments[s_idx].points["descriptor"][np.sort(take)]))
        return np.concatenate(chosen) if chosen else np.zeros((0, DESCRIPTOR_BYTES), np.uint8)

    def _compact(self) -> None:
        """Rewrite the live items into one segment, with words of the current vocabulary."""
        m = self._manifest
        ids, feats = [], []
        for pos, item_id in enumerate(self._ids.tolist()):
            row = self._where[pos]
            pts = self._segments[int(self._seg_of[pos])].points[int(row["start"]) : int(row["start"] + row["count"])]
            ids.append(item_id)
            feats.append(
                LocalFeatures(
                    np.asarray(pts["xy"], np.float32),
                    np.ascontiguousarray(pts["descriptor"]),
                    (int(row["width"]), int(row["height"])),
                )
            )
        words = None
        if self._vocabulary is not None:
            all_des = (
                np.concatenate([f.descriptors for f in feats]) if feats else np.zeros((0, DESCRIPTOR_BYTES), np.uint8)
            )
            flat = self._vocabulary.words(all_des)
            bounds = np.cumsum([len(f) for f in feats])[:-1]
            words = np.split(flat, bounds) if feats else []
        items, points = _pack(ids, feats, words)
        m.generation += 1
        seg = _Segment(f"seg-{m.generation:06d}", items, points)
        seg.write(self.folder)
        self._segments = [_Segment.load(self.folder, seg.name)]
        m.segments = [seg.name]
        m.deleted = []
        self._index()

    def remove_leftovers(self) -> None:
        """Delete segments and vocabularies the manifest does not name: left by a save cut
        short, or replaced by a compaction (a writer's job, under the collection's lock)."""
        if not self.folder.is_dir():
            return
        listed = set(self._manifest.segments)
        for path in self.folder.iterdir():
            match = _SEGMENT.match(path.name)
            stale_segment = match is not None and match.group(1) not in {s[4:] for s in listed}
            stale_vocab = path.name.startswith("vocab-") and path.name != self._manifest.vocabulary
            stale_tmp = path.name.startswith(".") and path.name.endswith(".tmp")
            if stale_segment or stale_vocab or stale_tmp:
                path.unlink(missing_ok=True)


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(start, start + count)`` for each pair, without a Python loop."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    rows: np.ndarray = np.arange(total, dtype=np.int64) + offsets
    return rows


class FeatureStore:
    """Where each collection's features live, and a reader cache that follows writers.

    Readers reload a collection when its manifest changes (one ``stat`` per search), as
    :class:`IndexStore` does for the FAISS indexes.
    """

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = Path(index_dir)
        self._cache: dict[int, CollectionFeatures] = {}
        self._lock = threading.Lock()

    def folder(self, collection_id: int) -> Path:
        return self.index_dir / str(collection_id) / FOLDER

    def get(self, collection_id: int) -> CollectionFeatures:
        """The current features for reading (``exists`` False when the collection has none)."""
        folder = self.folder(collection_id)
        with self._lock:
            cached = self._cache.get(collection_id)
            try:
                mtime = (folder / "manifest.json").stat().st_mtime
            except FileNotFoundError:
                mtime = 0.0
            if cached is None or mtime != cached.loaded_mtime:
                cached = self._load(folder)
                self._cache[collection_id] = cached
            return cached

    @staticmethod
    def _load(folder: Path) -> CollectionFeatures:
        try:
            return CollectionFeatures(folder)
        except FileNotFoundError:
            # A compaction removed a segment between our reading the manifest and opening
            # it: the manifest is new by now, read it again.
            return CollectionFeatures(folder)

    def writer(self, collection_id: int) -> CollectionFeatures:
        """Fresh features to change; call under the collection's write lock
        (:meth:`IndexStore.writer`) and :meth:`CollectionFeatures.save` them."""
        features = CollectionFeatures(self.folder(collection_id))
        features.remove_leftovers()
        return features

    def drop(self, collection_id: int) -> None:
        """Delete a collection's store (``artsnap reindex`` rebuilds it from the media)."""
        folder = self.folder(collection_id)
        if folder.exists():
            for path in folder.iterdir():
                path.unlink()
            folder.rmdir()
        with self._lock:
            self._cache.pop(collection_id, None)

    def describe(self, collection_id: int) -> dict[str, Any]:
        """Counts for ``artsnap collections`` and the collection endpoint."""
        cf = self.get(collection_id)
        n = len(cf.ids())
        return {
            "exists": cf.exists,
            "items": n,
            "vocabulary": cf.has_vocabulary,
            "bytes_per_item": round(cf.stored_bytes() / n) if n else 0,
        }
