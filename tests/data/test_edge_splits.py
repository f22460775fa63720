"""Leakage-free stratified splits: duplicate groups never straddle train/val/test."""

from __future__ import annotations

import numpy as np
import pytest

from dataset_tools.splits import SplitItem, group_duplicates, stratified_group_split


def _items(n_per_label: dict[str, int]) -> list[SplitItem]:
    rng = np.random.default_rng(len(n_per_label))
    items = []
    for label, n in n_per_label.items():
        for i in range(n):
            phash = int(rng.integers(0, 1 << 62))  # random hashes: ~31 bits apart, never "near"
            items.append(SplitItem(f"{label}/{i}.jpg", f"{label}-{i:04d}".ljust(64, "0"), phash, (label,)))
    return items


def test_exact_and_near_duplicates_are_grouped_and_chained():
    a = SplitItem("a.jpg", "a" * 64, 0b1111 << 20, ("x",))
    a_copy = SplitItem("b/a.jpg", "a" * 64, 12345, ("y",))  # same bytes, other label
    near = SplitItem("c.jpg", "c" * 64, (0b1111 << 20) ^ 0b11, ("x",))  # 2 bits from a
    other = SplitItem("d.jpg", "d" * 64, (1 << 62) - 1, ("x",))
    groups = group_duplicates([a, a_copy, near, other])
    assert sorted(len(g.members) for g in groups) == [1, 3]
    big = next(g for g in groups if len(g.members) == 3)
    assert big.conflicting and big.labels == ("x", "y")
    assert big.representative is a
    exact_only = group_duplicates([a, a_copy, near, other], near_threshold=None)
    assert sorted(len(g.members) for g in exact_only) == [1, 1, 2]


def test_split_is_stratified_deterministic_and_leak_free():
    items = _items({"common": 200, "mid": 60, "rare": 12})
    items.append(SplitItem("common/copy.jpg", items[0].sha256, items[0].phash, ("common",)))
    groups = group_duplicates(items)
    split = stratified_group_split(groups, seed=3)
    assert split.n_duplicate_items == 1
    where = split.assignment()
    assert where["common/copy.jpg"] == where[items[0].key]
    for label, n in (("common", 200), ("mid", 60), ("rare", 12)):
        c = {s: split.counts[s].get(label, 0) for s in ("train", "val", "test")}
        assert sum(c.values()) == n
        assert c["val"] >= 1 and c["test"] >= 1
        assert abs(c["test"] / n - 0.15) < 0.05
    again = stratified_group_split(group_duplicates(items), seed=3)
    assert again.assignment() == where and again.fingerprint() == split.fingerprint()
    other = stratified_group_split(group_duplicates(items), seed=4)
    assert other.assignment() != where


def test_tiny_labels_stay_in_train_and_multilabel_uses_rarest_label():
    items = _items({"big": 30, "tiny": 2})
    split = stratified_group_split(group_duplicates(items), seed=0)
    assert {split.assignment()[k] for k in ("tiny/0.jpg", "tiny/1.jpg")} == {"train"}

    items = _items({"big": 40, "rare": 8})
    both = [SplitItem(f"both{i}.jpg", f"both{i}".ljust(64, "f"), (i + 1) << 40, ("big", "rare")) for i in range(4)]
    split = stratified_group_split(group_duplicates(items + both), seed=0)
    # the 12 groups carrying "rare" were dealt as one stratum: rare is in val and test
    assert split.counts["val"]["rare"] >= 1 and split.counts["test"]["rare"] >= 1
    with pytest.raises(ValueError):
        stratified_group_split([], fractions=(0.5, 0.5, 0.5))
