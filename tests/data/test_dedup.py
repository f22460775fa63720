"""Dedup: the same picture twice is caught (bytes or re-encoded), different pictures are not."""

from __future__ import annotations

import io
from pathlib import Path

import imagehash
import numpy as np
import pytest
from PIL import Image

from dataset_tools.dedup import (
    DEFAULT_NEAR_THRESHOLD,
    DuplicateIndex,
    DuplicateMatch,
    content_hash,
    hamming_distance,
    near_duplicate_hash,
    perceptual_hash,
)
from dataset_tools.readers import open_source


def _painting(seed: int, size: int = 224) -> Image.Image:
    """A stand-in artwork: smooth colour fields at several scales, unique per seed."""
    rng = np.random.default_rng(seed)
    acc = np.zeros((size, size, 3), np.float32)
    for cells, weight in ((3, 1.0), (7, 0.5), (19, 0.25)):
        coarse = rng.uniform(0, 255, (cells, cells, 3)).astype(np.uint8)
        acc += weight * np.asarray(Image.fromarray(coarse).resize((size, size), Image.BICUBIC), np.float32)
    return Image.fromarray(np.clip(acc / 1.75, 0, 255).astype(np.uint8), "RGB")


def _jpeg(img: Image.Image, quality: int = 92) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _hashes(data: bytes) -> tuple[str, int]:
    return content_hash(data), perceptual_hash(Image.open(io.BytesIO(data)))


def test_content_hash_is_sha256_of_the_bytes() -> None:
    assert content_hash(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_perceptual_hash_fits_sqlite_integer_and_matches_imagehash() -> None:
    values = [perceptual_hash(_painting(seed)) for seed in range(40)]
    assert all(-(2**63) <= v < 2**63 for v in values)
    assert any(v < 0 for v in values)  # the top bit is used: stored in two's complement
    for seed, v in zip(range(3), values):
        assert format(v & (2**64 - 1), "016x") == str(imagehash.phash(_painting(seed)))
    assert hamming_distance(-1, 0) == 64 and hamming_distance(values[0], values[0]) == 0


def test_exact_copy_is_found_under_another_label() -> None:
    original = _jpeg(_painting(1))
    index = DuplicateIndex()
    index.add("baroque/a.jpg", *_hashes(original))
    index.add("baroque/b.jpg", *_hashes(_jpeg(_painting(2))))
    assert index.find(*_hashes(bytes(original))) == DuplicateMatch("exact", "baroque/a.jpg", 0)


@pytest.mark.parametrize("variant", ["jpeg_q70", "resized_90", "resized_and_q70"])
def test_reencoded_or_resized_copy_is_a_near_duplicate(variant: str) -> None:
    index = DuplicateIndex()
    for seed in range(20):
        index.add(seed, *_hashes(_jpeg(_painting(seed))))
    img = Image.open(io.BytesIO(_jpeg(_painting(7))))
    if variant != "jpeg_q70":
        img = img.resize((round(img.width * 0.9), round(img.height * 0.9)), Image.LANCZOS)
    copy = _jpeg(img, quality=70 if variant != "resized_90" else 95)
    match = index.find(*_hashes(copy))
    assert match is not None and match.kind == "near" and match.of == 7
    assert match.distance <= DEFAULT_NEAR_THRESHOLD


def test_distinct_images_are_not_matched() -> None:
    index = DuplicateIndex()
    matches = []
    for seed in range(60):
        data = _jpeg(_painting(seed))
        matches.append(index.find(*_hashes(data)))
        index.add(seed, *_hashes(data))
    assert matches == [None] * 60


def test_threshold_boundary_and_nearest_wins() -> None:
    base = 0x0F0F_0F0F_0F0F_0F0F
    index = DuplicateIndex(near_threshold=6)
    index.add("far", "sha-far", base ^ 0b111111)  # 6 bits away from base
    index.add("close", "sha-close", base ^ 0b11)  # 2 bits away
    assert index.find("sha-new", base) == DuplicateMatch("near", "close", 2)
    index.remove("close")
    assert index.find("sha-new", base) == DuplicateMatch("near", "far", 6)
    assert index.find("sha-new", base ^ 0b1000000) is None  # 7 bits from "far"


def test_remove_forgets_and_keeps_the_others_findable() -> None:
    index = DuplicateIndex()
    rng = np.random.default_rng(0)
    entries = {f"k{i}": (f"sha{i}", int(v)) for i, v in enumerate(rng.integers(-(2**63), 2**63 - 1, 50))}
    for key, (sha, ph) in entries.items():
        index.add(key, sha, ph)
    removed = {key: entries.pop(key) for key in ("k0", "k17", "k49", "k25")}  # first, middle, last
    for key in removed:
        index.remove(key)
    assert len(index) == 46
    for sha, ph in removed.values():
        assert index.find(sha, ph) is None
    for key, (sha, ph) in entries.items():
        assert index.find("unseen", ph) == DuplicateMatch("near", key, 0)
        assert index.find(sha, ph) == DuplicateMatch("exact", key, 0)
    with pytest.raises(KeyError):
        index.remove("k0")


def test_removing_one_of_two_identical_files_keeps_the_other() -> None:
    index = DuplicateIndex()
    index.add(1, "same", 42)
    index.add(2, "same", 42)
    assert index.find("same", 42) == DuplicateMatch("exact", 1, 0)
    index.remove(1)
    assert index.find("same", 42) == DuplicateMatch("exact", 2, 0)
    index.add(2, "other", -42)  # re-adding a key replaces its hashes
    assert len(index) == 1 and index.find("same", 42) is None


def test_wikiart_duplicate_files_are_all_found_by_exact_hash(wikiart_zip: Path) -> None:
    """The 80 ``*_dupNNN.jpg`` files are 40 pairs of identical bytes, filed under two styles.

    Ingest order (sorted paths) keeps the first of each pair and must link the second to it.
    """
    with open_source(wikiart_zip) as source:
        records = list(source)
        dups = [r for r in records if "_dup" in r.source_path]
        assert len(dups) == 80
        # No dup file is a copy of an ordinary file, so the 80 must match among themselves.
        ordinary = {content_hash(r.read()) for r in records if "_dup" not in r.source_path}
        index = DuplicateIndex()
        linked: dict[str, str] = {}
        for record in dups:
            data = record.read()
            assert content_hash(data) not in ordinary
            sha, ph = _hashes(data)
            match = index.find(sha, ph)
            if match is None:
                index.add(record.source_path, sha, ph)
            else:
                assert match.kind == "exact"
                linked[record.source_path] = str(match.of)
    by_path = {r.source_path: r for r in dups}
    assert len(linked) == 40 and len(index) == 40
    assert all(by_path[copy].labels != by_path[kept].labels for copy, kept in linked.items())


def test_wikiart_reencodes_are_near_and_paintings_are_not(wikiart_zip: Path) -> None:
    with open_source(wikiart_zip) as source:
        sample = [r for r in source if "_dup" not in r.source_path][::40]  # 88 paintings
        index = DuplicateIndex()
        images = {}
        for record in sample:
            img = Image.open(io.BytesIO(record.read())).convert("RGB")
            images[record.source_path] = img
            assert index.find("?", perceptual_hash(img)) is None, record.source_path
            index.add(record.source_path, "?" + record.source_path, perceptual_hash(img))
    for path, img in list(images.items())[::4]:
        small = img.resize((round(img.width * 0.9), round(img.height * 0.9)), Image.LANCZOS)
        copy = Image.open(io.BytesIO(_jpeg(small, quality=70)))
        match = index.find("new", perceptual_hash(copy))
        assert match is not None and (match.kind, match.of) == ("near", path)


def test_entry_without_phash_matches_exactly_only() -> None:
    index = DuplicateIndex()
    index.add("no-image", "sha-a", None)
    index.add("img", "sha-b", 0)
    assert index.find("sha-a", 123) == DuplicateMatch("exact", "no-image", 0)
    assert index.find("sha-new", 0) == DuplicateMatch("near", "img", 0)
    index.remove("img")
    assert index.find("sha-new", 0) is None and index.find("sha-new", None) is None
    assert len(index) == 1 and "no-image" in index


def _stripes_jpeg() -> Image.Image:
    a = np.zeros((120, 160, 3), np.uint8)
    a[:, ::16] = 255
    a[:, 1::16] = 255
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "JPEG")
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


@pytest.mark.parametrize(
    "flat",
    [Image.new("RGB", (1, 1)), Image.new("RGB", (200, 150), (30, 160, 60)), Image.new("L", (64, 64), 255)],
    ids=["1x1 black", "plain green", "white"],
)
def test_flat_images_have_no_near_duplicate_hash_and_match_nothing(flat: Image.Image) -> None:
    stripes = _stripes_jpeg()
    # What went wrong: their pHash is noise a few bits from an unrelated striped picture.
    assert hamming_distance(perceptual_hash(flat), perceptual_hash(stripes)) <= DEFAULT_NEAR_THRESHOLD
    assert near_duplicate_hash(flat) is None
    index = DuplicateIndex()
    index.add("stripes", "sha-stripes", near_duplicate_hash(stripes))
    assert index.find("sha-flat", near_duplicate_hash(flat)) is None


def test_textured_images_keep_their_perceptual_hash() -> None:
    img = _stripes_jpeg()
    assert near_duplicate_hash(img) == perceptual_hash(img)
    rng = np.random.default_rng(5)
    faint = Image.fromarray(np.clip(200 + rng.normal(0, 1.5, (100, 100)), 0, 255).astype(np.uint8))
    assert near_duplicate_hash(faint) is None  # sensor noise on a blank sheet is not texture
