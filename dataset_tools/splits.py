"""Leakage-free, stratified train/validation/test splits.

Why this module exists: collections hold the same picture more than once (the same file
filed under two labels, a re-saved JPEG). If one copy lands in *train* and the other in
*test*, the test score measures memory, not generalisation, and a curator is told the model
is better than it is. So items are first grouped — exact duplicates by file hash, near
duplicates by perceptual hash (:mod:`dataset_tools.dedup`) — and whole groups are assigned to
one side.

Stratification keeps every label's share about equal in each split, which matters when a
category has only a few dozen images: a random split could leave it out of validation
entirely. Groups are dealt label by label, rarest label first, each label's groups shuffled
with the seed, so the same seed always gives the same split.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .dedup import DEFAULT_NEAR_THRESHOLD, DuplicateIndex

__all__ = [
    "SPLIT_NAMES",
    "DuplicateGroup",
    "SplitItem",
    "Split",
    "group_duplicates",
    "stratified_group_split",
]

SPLIT_NAMES = ("train", "val", "test")


@dataclass(frozen=True)
class SplitItem:
    """What the splitter needs to know about one image: who it is, its hashes, its labels."""

    key: Hashable  # e.g. the record's source_path
    sha256: str
    phash: int
    labels: tuple[str, ...]


@dataclass
class DuplicateGroup:
    """Items that show the same picture. ``labels`` is the union of the members' labels."""

    members: list[SplitItem]

    @property
    def representative(self) -> SplitItem:
        """The member trained and evaluated on: duplicates would only add weight, not data."""
        return self.members[0]

    @property
    def labels(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for m in self.members:
            for label in m.labels:
                seen.setdefault(label, None)
        return tuple(sorted(seen))

    @property
    def conflicting(self) -> bool:
        """Copies filed under different labels (e.g. one painting under two styles)."""
        return len({m.labels for m in self.members}) > 1


@dataclass
class Split:
    """Group assignment to ``train`` / ``val`` / ``test`` plus what a report needs to say."""

    groups: dict[str, list[DuplicateGroup]]
    seed: int
    fractions: tuple[float, float, float]
    n_items: int
    n_duplicate_items: int = 0  # items that are a copy of another item
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> label -> groups

    def keys(self, split: str) -> list[Hashable]:
        """Keys of the representatives in ``split`` (one per group)."""
        return [g.representative.key for g in self.groups[split]]

    def assignment(self) -> dict[str, str]:
        """Every item key (duplicates included) → split name: what ``splits.json`` stores."""
        out: dict[str, str] = {}
        for name, groups in self.groups.items():
            for g in groups:
                for m in g.members:
                    out[str(m.key)] = name
        return out

    def fingerprint(self) -> str:
        """Stable hash of (content, labels, split): the "training-data hash" on a model card."""
        rows = sorted(
            (m.sha256, "|".join(m.labels), name)
            for name, groups in self.groups.items()
            for g in groups
            for m in g.members
        )
        blob = json.dumps({"rows": rows, "seed": self.seed}, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


def group_duplicates(
    items: Sequence[SplitItem], *, near_threshold: int | None = DEFAULT_NEAR_THRESHOLD
) -> list[DuplicateGroup]:
    """Union exact (same SHA-256) and near (pHash within ``near_threshold``) duplicates.

    Uses :class:`DuplicateIndex`, whose ``find`` returns the first match, and a union-find, so
    chains (a≈b, b≈c) end up in one group too. ``near_threshold=None`` groups exact copies only.
    Groups keep input order (first member = first seen), so results are deterministic.
    """
    index = DuplicateIndex(near_threshold if near_threshold is not None else 0)
    parent = list(range(len(items)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, item in enumerate(items):
        match = index.find(item.sha256, item.phash)
        if match is not None and (match.kind == "exact" or near_threshold is not None):
            a, b = root(i), root(int(match.of))
            if a != b:
                parent[max(a, b)] = min(a, b)
        index.add(i, item.sha256, item.phash)

    by_root: dict[int, list[SplitItem]] = defaultdict(list)
    for i, item in enumerate(items):
        by_root[root(i)].append(item)
    return [DuplicateGroup(members) for _, members in sorted(by_root.items())]


def stratified_group_split(
    groups: Sequence[DuplicateGroup],
    *,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    min_per_split: int = 1,
) -> Split:
    """Deal whole groups to train/val/test so each label keeps about ``fractions`` of its groups.

    Multi-label groups are dealt with their rarest label (iterative stratification in its
    simplest form), so rare labels get their share first. A label with at least three groups
    gets at least ``min_per_split`` group in val and test; with fewer, everything goes to train
    (it cannot be evaluated honestly anyway, and the report says so).
    """
    if abs(sum(fractions) - 1.0) > 1e-6 or any(f < 0 for f in fractions):
        raise ValueError(f"fractions must be non-negative and sum to 1, got {fractions}")
    label_freq: dict[str, int] = defaultdict(int)
    for g in groups:
        for label in g.labels:
            label_freq[label] += 1

    def stratum(g: DuplicateGroup) -> str:
        if not g.labels:
            return ""
        return min(g.labels, key=lambda lab: (label_freq[lab], lab))

    by_stratum: dict[str, list[DuplicateGroup]] = defaultdict(list)
    for g in groups:
        by_stratum[stratum(g)].append(g)

    rng = np.random.default_rng(seed)
    out: dict[str, list[DuplicateGroup]] = {name: [] for name in SPLIT_NAMES}
    for label in sorted(by_stratum, key=lambda lab: (len(by_stratum[lab]), lab)):
        members = by_stratum[label]
        order = rng.permutation(len(members))
        n = len(members)
        n_val, n_test = _split_sizes(n, fractions, min_per_split)
        for rank, idx in enumerate(order):
            name = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
            out[name].append(members[idx])

    counts: dict[str, dict[str, int]] = {}
    for name, gs in out.items():
        c: dict[str, int] = defaultdict(int)
        for g in gs:
            for label in g.labels:
                c[label] += 1
        counts[name] = dict(sorted(c.items()))
    n_items = sum(len(g.members) for g in groups)
    return Split(
        groups=out,
        seed=seed,
        fractions=fractions,
        n_items=n_items,
        n_duplicate_items=n_items - len(groups),
        counts=counts,
    )


def _split_sizes(n: int, fractions: tuple[float, float, float], min_per_split: int) -> tuple[int, int]:
    """(n_val, n_test) for a stratum of ``n`` groups."""
    if n < 3:
        return 0, 0
    n_val = max(min_per_split if fractions[1] > 0 else 0, int(round(n * fractions[1])))
    n_test = max(min_per_split if fractions[2] > 0 else 0, int(round(n * fractions[2])))
    while n_val + n_test > n - 1:  # always keep at least one for training
        if n_val >= n_test and n_val > 0:
            n_val -= 1
        else:
            n_test -= 1
    return n_val, n_test
