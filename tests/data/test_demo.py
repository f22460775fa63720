"""The demo collection `make run` draws: right layout, decodable, reproducible, and its
planted duplicates (and only those) are what dedup reports."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dataset_tools.dedup import DuplicateIndex, content_hash, perceptual_hash
from dataset_tools.demo import FAMILIES, DemoDuplicate, DemoSummary, generate_demo_collection, paint
from dataset_tools.readers import open_source

PER_FAMILY = 12  # `make run` uses the default 40; 12 keeps the suite fast and changes nothing else


@pytest.fixture(scope="module")
def default_demo(tmp_path_factory: pytest.TempPathFactory) -> DemoSummary:
    """The collection as `make run` builds it (default size and seed), fewer per family."""
    return generate_demo_collection(tmp_path_factory.mktemp("demo"), per_family=PER_FAMILY)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_default_collection_layout_and_counts(default_demo: DemoSummary) -> None:
    root = default_demo.out_dir
    assert 6 <= len(FAMILIES) <= 8
    assert sorted(p.name for p in root.iterdir()) == sorted(FAMILIES)
    files = _files(root)
    assert default_demo.images == len(files) == len(FAMILIES) * PER_FAMILY + 2
    for family in FAMILIES:
        names = sorted(p.name for p in (root / family).iterdir())
        originals = [n for n in names if "_dup" not in n]
        assert originals == [f"{family}_{i:04d}.jpg" for i in range(PER_FAMILY)]
        assert default_demo.counts[family] == len(names)
    assert default_demo.duplicates == (
        DemoDuplicate("stripes/stripes_dup0000.jpg", "mondrian/mondrian_0003.jpg", "exact"),
        DemoDuplicate("seascape/seascape_dup0001.jpg", "seascape/seascape_0005.jpg", "near"),
    )


def test_every_image_decodes_as_an_rgb_jpeg(default_demo: DemoSummary) -> None:
    for path in sorted(default_demo.out_dir.rglob("*.jpg")):
        with Image.open(path) as img:
            img.load()
            assert img.format == "JPEG" and img.mode == "RGB", path
            expected = (230, 230) if path.name == "seascape_dup0001.jpg" else (256, 256)
            assert img.size == expected, path


def test_dedup_reports_exactly_the_planted_duplicates(default_demo: DemoSummary) -> None:
    """Ingest order over the folder: the copies are linked, no distinct painting is."""
    index = DuplicateIndex()
    linked = {}
    for record in open_source(default_demo.out_dir):
        data = record.read()
        sha, ph = content_hash(data), perceptual_hash(Image.open(io.BytesIO(data)))
        match = index.find(sha, ph)
        if match is None:
            index.add(record.source_path, sha, ph)
        else:
            linked[record.source_path] = (match.kind, match.of)
    assert linked == {d.path: (d.kind, d.original) for d in default_demo.duplicates}


def test_families_differ_in_colour_statistics(default_demo: DemoSummary) -> None:
    """A cheap proxy for "recognisably different": mean colour and contrast per family are
    well apart (EfficientNet-Lite0 features separate them perfectly, see the report)."""
    stats = {}
    for family in FAMILIES:
        arrs = [
            np.asarray(Image.open(default_demo.out_dir / family / f"{family}_{i:04d}.jpg"), np.float32)
            for i in range(PER_FAMILY)
        ]
        stats[family] = np.array(
            [np.mean([a.mean((0, 1)) for a in arrs], 0).tolist() + [np.mean([a.std() for a in arrs])]]
        )
    names = list(stats)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert np.abs(stats[a] - stats[b]).max() > 12, (a, b)


def test_same_seed_same_bytes_and_prefix_stable(tmp_path: Path) -> None:
    one = generate_demo_collection(tmp_path / "one", per_family=2, size=64, seed=7)
    two = generate_demo_collection(tmp_path / "two", per_family=2, size=64, seed=7)
    assert _files(one.out_dir) == _files(two.out_dir)
    three = generate_demo_collection(tmp_path / "three", per_family=3, size=64, seed=7)
    files3 = _files(three.out_dir)
    for rel, data in _files(one.out_dir).items():
        if "_dup" not in rel:
            assert files3[rel] == data  # more images per family does not reshuffle the first ones
    other = generate_demo_collection(tmp_path / "other", per_family=2, size=64, seed=8)
    assert _files(other.out_dir)["mondrian/mondrian_0000.jpg"] != _files(one.out_dir)["mondrian/mondrian_0000.jpg"]


def test_rerun_removes_its_own_stale_images_only(tmp_path: Path) -> None:
    generate_demo_collection(tmp_path, per_family=3, size=48)
    (tmp_path / "mondrian" / "curator_note.txt").write_text("keep me")
    summary = generate_demo_collection(tmp_path, per_family=2, size=48)
    assert not (tmp_path / "mondrian" / "mondrian_0002.jpg").exists()
    assert (tmp_path / "mondrian" / "curator_note.txt").read_text() == "keep me"
    assert len(list(tmp_path.rglob("*.jpg"))) == summary.images == len(FAMILIES) * 2 + 2
    assert not list(tmp_path.rglob(".*"))  # no temporary files left behind


def test_paint_is_a_pure_function_of_its_arguments() -> None:
    a = np.asarray(paint("starry_swirls", 4, size=64, seed=1))
    b = np.asarray(paint("starry_swirls", 4, size=64, seed=1))
    c = np.asarray(paint("starry_swirls", 5, size=64, seed=1))
    assert a.shape == (64, 64, 3) and np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("kwargs", [{"per_family": 0}, {"size": 8}])
def test_bad_arguments_are_rejected(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        generate_demo_collection(tmp_path, **kwargs)
