"""From a labelled SOURCE (folder, zip, CSV manifest) to a deduplicated, split training set.

Reading goes through :func:`dataset_tools.readers.open_source` (the same reader ingest uses, so
a folder trains exactly as it ingests), hashing through :mod:`dataset_tools.dedup`, splitting
through :mod:`dataset_tools.splits`. What is left here is the policy:

* records without a label are not training data (they are counted, not used);
* duplicate copies collapse to one representative per group (copies add weight, not data);
* **single- vs multi-label** is decided by the data: if any record carries several labels
  (a CSV manifest with ``portrait;baroque``) the task is multi-label (one sigmoid per label);
  otherwise it is single-label (softmax). A duplicate group whose copies sit under *different*
  labels in a single-label collection is ambiguous — the same picture cannot be two styles
  under a softmax — so it is left out of training and evaluation and listed in the report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dataset_tools.dedup import content_hash, perceptual_hash
from dataset_tools.readers import SourceReadError, SourceRecord, open_source
from dataset_tools.splits import DuplicateGroup, Split, SplitItem, group_duplicates, stratified_group_split

log = logging.getLogger(__name__)

__all__ = ["TrainingSet", "load_training_set"]


@dataclass
class TrainingSet:
    """Deduplicated, labelled, split images. Bytes are read on demand via ``readers``."""

    labels: list[str]
    multi_label: bool
    split: Split
    readers: dict[str, Callable[[], bytes]]  # representative key → bytes
    sha256: dict[str, str]  # representative key → file hash
    targets: dict[str, tuple[str, ...]]  # representative key → labels
    n_records: int = 0
    unlabelled: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    ambiguous: list[list[str]] = field(default_factory=list)  # excluded conflicting duplicate groups
    close: Callable[[], None] = lambda: None

    @property
    def label_index(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}

    def keys(self, split_name: str) -> list[str]:
        return [str(k) for k in self.split.keys(split_name) if str(k) in self.targets]

    def y(self, keys: list[str]) -> np.ndarray:
        """Class indices (single-label) or a 0/1 matrix (multi-label) for ``keys``."""
        idx = self.label_index
        if self.multi_label:
            out = np.zeros((len(keys), len(self.labels)), dtype=np.float32)
            for row, key in enumerate(keys):
                for label in self.targets[key]:
                    out[row, idx[label]] = 1.0
            return out
        return np.array([idx[self.targets[k][0]] for k in keys], dtype=np.int64)

    @property
    def fingerprint(self) -> str:
        return self.split.fingerprint()

    def counts(self) -> dict[str, dict[str, int]]:
        """split → label → number of (deduplicated) images used."""
        out: dict[str, dict[str, int]] = {}
        for name in ("train", "val", "test"):
            c = {label: 0 for label in self.labels}
            for key in self.keys(name):
                for label in self.targets[key]:
                    c[label] += 1
            out[name] = c
        return out


def _hash_record(record: SourceRecord) -> tuple[SourceRecord, str, int] | tuple[SourceRecord, None, str]:
    from dataset_tools.images import ImageDecodeError, decode_image

    try:
        data = record.read()
        img = decode_image(data, min_side=64).image
        return record, content_hash(data), perceptual_hash(img)
    except (SourceReadError, ImageDecodeError) as exc:
        return record, None, str(exc)


def load_training_set(
    source: str | Path,
    *,
    seed: int = 0,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    multi_label: bool | None = None,
    near_duplicates: bool = True,
    progress: bool = False,
    workers: int = 2,
) -> TrainingSet:
    """Open SOURCE, hash every labelled image, group duplicates, split. Keeps SOURCE open
    (call ``.close()``) so images can be read again for feature extraction."""
    from tqdm.auto import tqdm

    src = open_source(source)
    records = list(src)
    labelled = [r for r in records if r.labels]
    unreadable: list[tuple[str, str]] = []
    items: list[SplitItem] = []
    readers: dict[str, Callable[[], bytes]] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for record, sha, ph in tqdm(
            pool.map(_hash_record, labelled),
            total=len(labelled),
            desc="reading",
            unit="img",
            disable=not progress,
            leave=False,
        ):
            if sha is None:
                unreadable.append((record.source_path, str(ph)))
                continue
            items.append(SplitItem(record.source_path, sha, int(ph), tuple(record.labels)))
            readers[record.source_path] = record.read

    if multi_label is None:
        multi_label = any(len(it.labels) > 1 for it in items)
    groups = group_duplicates(items, near_threshold=6 if near_duplicates else None)
    ambiguous: list[list[str]] = []
    kept: list[DuplicateGroup] = []
    for g in groups:
        if not multi_label and g.conflicting:
            ambiguous.append([str(m.key) for m in g.members])
        else:
            kept.append(g)
    split = stratified_group_split(kept, fractions=fractions, seed=seed)
    labels = sorted({label for g in kept for label in g.labels})
    targets = {str(g.representative.key): (g.labels if multi_label else g.representative.labels) for g in kept}
    sha = {str(g.representative.key): g.representative.sha256 for g in kept}
    if ambiguous:
        log.warning("%d duplicate groups carry conflicting labels and are left out", len(ambiguous))
    return TrainingSet(
        labels=labels,
        multi_label=multi_label,
        split=split,
        readers={k: readers[k] for k in targets},
        sha256=sha,
        targets=targets,
        n_records=len(records),
        unlabelled=len(records) - len(labelled),
        unreadable=unreadable,
        ambiguous=ambiguous,
        close=src.close,
    )
