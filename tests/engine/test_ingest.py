"""Ingest: folders and zips, labels from folders, duplicates, bad files, resuming, crashes."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from backend.engine.index_store import IndexStore
from backend.engine.services import Engine

FAMILIES = ("mondrian", "seascape", "portrait")


def write_files(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def reencode(jpeg: bytes, *, scale: float = 0.9, quality: int = 70) -> bytes:
    img = Image.open(io.BytesIO(jpeg))
    img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


@pytest.fixture
def small_collection(paint_jpeg) -> dict[str, bytes]:
    """3 labels × 3 distinct images."""
    return {f"{fam}/{fam}_{i}.jpg": paint_jpeg(fam, i) for fam in FAMILIES for i in range(3)}


@pytest.fixture
def engine(make_settings) -> Engine:
    eng = Engine.open(make_settings())
    yield eng
    eng.close()


def by_path(eng: Engine, collection: str) -> dict[str, object]:
    cid = eng.catalog.collection_id(collection)
    ids = eng.catalog.ids_with_status(cid, "indexed") + eng.catalog.ids_with_status(cid, "duplicate")
    return {v.source_path: v for v in eng.catalog.get_items(ids).values()}


def test_demo_folder_ingest_keeps_paths_labels_and_links_duplicates(
    demo_engine: Engine, demo_source, assert_consistent
) -> None:
    items = by_path(demo_engine, "demo")
    on_disk = sorted(p.relative_to(demo_source.out_dir).as_posix() for p in Path(demo_source.out_dir).rglob("*.jpg"))
    assert sorted(items) == on_disk  # every file, by its path relative to SOURCE
    for path, item in items.items():
        assert path.split("/")[0] in item.label_names

    exact = next(d for d in demo_source.duplicates if d.kind == "exact")
    a, b = items[exact.path], items[exact.original]
    kept, dup = (a, b) if a.status == "indexed" else (b, a)
    assert dup.status == "duplicate" and dup.duplicate_of == kept.id and dup.duplicate_kind == "exact"
    # one painting filed under two labels: the kept item carries both
    assert {exact.path.split("/")[0], exact.original.split("/")[0]} <= set(kept.label_names)
    assert dup.id in kept.duplicates

    near = next(d for d in demo_source.duplicates if d.kind == "near")
    assert items[near.path].status == "duplicate"
    assert items[near.path].duplicate_of == items[near.original].id
    assert items[near.path].duplicate_kind == "near"
    assert_consistent(demo_engine, "demo")
    assert len(demo_engine.index_store.get(demo_engine.catalog.collection_id("demo"), "cnn")) == len(items) - 2


def test_zip_with_a_wrapper_folder_gives_the_same_records_as_the_folder(
    tmp_path: Path, engine: Engine, small_collection, assert_consistent
) -> None:
    archive = tmp_path / "paintings.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for rel, data in small_collection.items():
            zf.writestr(f"paintings/{rel}", data)  # as "compress this folder" makes it
        zf.writestr("paintings/README.txt", "not an image")
    summary = engine.ingest.ingest(archive, "zipped")
    assert (summary.added, summary.failed, summary.skipped_non_images) == (len(small_collection), [], 1)
    items = by_path(engine, "zipped")
    assert sorted(items) == sorted(small_collection)
    assert {p: v.label_names for p, v in items.items()} == {p: [p.split("/")[0]] for p in small_collection}
    assert_consistent(engine, "zipped")


def test_csv_manifest_gives_labels_and_titles(tmp_path: Path, engine: Engine, small_collection) -> None:
    files = write_files(
        tmp_path / "files", {f"img{i}.jpg": d for i, d in enumerate(list(small_collection.values())[:3])}
    )
    manifest = files / "manifest.csv"  # paths are relative to the manifest's folder
    manifest.write_text(
        "path,label,title\nimg0.jpg,baroque;portrait,Night Watch\nimg1.jpg,baroque,\nimg2.jpg,,Untitled\n"
    )
    summary = engine.ingest.ingest(manifest, "csv")
    assert summary.added == 3 and not summary.failed
    items = by_path(engine, "csv")
    assert items["img0.jpg"].label_names == ["baroque", "portrait"] and items["img0.jpg"].title == "Night Watch"
    assert items["img1.jpg"].label_names == ["baroque"]
    assert items["img2.jpg"].label_names == [] and items["img2.jpg"].title == "Untitled"


def test_duplicates_across_labels_and_across_runs(
    tmp_path: Path, engine: Engine, small_collection, assert_consistent
) -> None:
    first = write_files(tmp_path / "first", small_collection)
    engine.ingest.ingest(first, "c")
    original = small_collection["seascape/seascape_1.jpg"]
    second = write_files(
        tmp_path / "second",
        {
            "romanticism/same_bytes.jpg": original,  # exact copy filed under another label
            "romanticism/resaved.jpg": reencode(original),  # near copy: resized + quality 70
            "romanticism/requalified.jpg": reencode(small_collection["mondrian/mondrian_2.jpg"], scale=1.0, quality=95),
        },
    )
    summary = engine.ingest.ingest(second, "c")
    assert (summary.exact_duplicates, summary.near_duplicates, summary.added) == (1, 2, 0)
    items = by_path(engine, "c")
    kept = items["seascape/seascape_1.jpg"]
    assert items["romanticism/same_bytes.jpg"].duplicate_of == kept.id
    assert items["romanticism/same_bytes.jpg"].duplicate_kind == "exact"
    assert items["romanticism/resaved.jpg"].duplicate_of == kept.id
    assert items["romanticism/resaved.jpg"].duplicate_kind == "near"
    assert set(kept.label_names) == {"seascape", "romanticism"}
    assert items["romanticism/requalified.jpg"].duplicate_of == items["mondrian/mondrian_2.jpg"].id  # re-encoded at q95
    assert_consistent(engine, "c")


def test_bad_files_get_per_file_errors_and_never_stop_the_ingest(
    tmp_path: Path, engine: Engine, small_collection, bomb_png: bytes, assert_consistent
) -> None:
    good = small_collection
    some_jpeg = next(iter(good.values()))
    bad = {
        "broken/empty.jpg": b"",
        "broken/truncated.jpg": some_jpeg[: len(some_jpeg) // 2],
        "broken/random.jpg": np.random.default_rng(0).bytes(5000),
        "broken/text.png": b"hello, I am not a picture\n" * 20,
        "broken/bomb.png": bomb_png,
        "broken/a.gif": b"GIF89a" + b"\x00" * 100,
    }
    source = write_files(tmp_path / "src", {**good, **bad, "notes/readme.txt": b"curator notes"})
    summary = engine.ingest.ingest(source, "c")
    assert summary.added == len(good)
    codes = {e.source_path: e.code for e in summary.failed}
    assert set(codes) == set(bad) - {"broken/a.gif"}  # .gif is not an image name: skipped, not failed
    assert codes["broken/empty.jpg"] == "empty"
    assert codes["broken/truncated.jpg"] == "truncated"
    assert codes["broken/bomb.png"] == "too_large"
    assert codes["broken/text.png"] == "not_an_image"
    assert summary.skipped_non_images == 2
    assert all(e.message for e in summary.failed)
    assert sorted(by_path(engine, "c")) == sorted(good)
    assert_consistent(engine, "c")


def test_rerunning_skips_everything_already_done(
    tmp_path: Path, make_settings, small_collection, assert_consistent
) -> None:
    source = write_files(tmp_path / "src", small_collection)
    settings = make_settings()
    eng = Engine.open(settings)
    first = eng.ingest.ingest(source, "c")
    eng.close()
    index_file = IndexStore(settings.index_dir, {}, "Flat").path(1, "cnn")
    before = index_file.read_bytes()

    eng = Engine.open(settings)  # a new process
    second = eng.ingest.ingest(source, "c")
    assert first.added == len(small_collection)
    assert (second.added, second.already_done, second.reembedded) == (0, len(small_collection), 0)
    assert index_file.read_bytes() == before  # nothing re-embedded or re-saved
    # a new file in the source is picked up, the rest still skipped
    write_files(source, {"seascape/extra.jpg": _distinct_jpeg()})
    third = eng.ingest.ingest(source, "c")
    assert (third.added, third.already_done) == (1, len(small_collection))
    assert_consistent(eng, "c")
    eng.close()


def _distinct_jpeg() -> bytes:
    arr = np.zeros((128, 128, 3), np.uint8)
    arr[:, :, 1] = np.linspace(0, 255, 128, dtype=np.uint8)[None, :]
    arr[32:96, 32:96] = (250, 20, 200)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _crash_source(tmp_path: Path, paint_jpeg: Callable[..., bytes]) -> tuple[Path, dict[str, bytes]]:
    files = {
        f"{fam}/{fam}_{i}.jpg": paint_jpeg(fam, i, size=96)
        for fam in ("mondrian", "cubist", "ink_wash", "stripes")
        for i in range(5)
    }
    files["stripes/copy_of_mondrian_0.jpg"] = files["mondrian/mondrian_0.jpg"]
    return write_files(tmp_path / "src", files), files


def _assert_whole_collection(eng: Engine, files: dict[str, bytes], assert_consistent) -> None:
    items = by_path(eng, "c")
    assert sorted(items) == sorted(files)  # nothing lost, nothing twice
    assert sum(v.status == "duplicate" for v in items.values()) == 1
    assert_consistent(eng, "c")
    # and the repaired collection answers searches
    from backend.engine.search_options import SearchOptions

    hit = eng.search.search_image("c", files["cubist/cubist_3.jpg"], SearchOptions(top_k=1, locate=False)).hits[0]
    assert hit.item.source_path == "cubist/cubist_3.jpg"


@pytest.mark.parametrize("where", ["index_save", "status_update"])
def test_a_crash_mid_ingest_is_repaired_by_the_next_run(
    tmp_path: Path, make_settings, paint_jpeg, monkeypatch, where: str, assert_consistent
) -> None:
    """The 2nd flush dies: before its index save (rows pending, vectors lost) or after the
    saves but before the rows say 'indexed' (vectors on disk, rows pending)."""
    source, files = _crash_source(tmp_path, paint_jpeg)
    settings = make_settings(ingest_batch=4)
    eng = Engine.open(settings)
    calls = {"n": 0}

    class Crash(Exception):
        pass

    if where == "index_save":
        real = IndexStore.save

        def save(self, cid, indexes):
            calls["n"] += 1
            if calls["n"] == 2:
                raise Crash("power cut")
            return real(self, cid, indexes)

        monkeypatch.setattr(IndexStore, "save", save)
    else:
        from backend.engine.catalog.store import Catalog

        real_status = Catalog.set_status

        def set_status(self, ids, status):
            if status == "indexed":
                calls["n"] += 1
                if calls["n"] == 2:
                    raise Crash("power cut")
            return real_status(self, ids, status)

        monkeypatch.setattr(Catalog, "set_status", set_status)

    with pytest.raises(Crash):
        eng.ingest.ingest(source, "c", flush_every=4)
    eng.close()
    monkeypatch.undo()
    cid_rows = Engine.open(settings)
    pending = cid_rows.catalog.ids_with_status(cid_rows.catalog.collection_id("c"), "pending")
    assert pending, "the crash should have left rows pending"
    cid_rows.close()

    eng = Engine.open(settings)  # the next run, in a fresh process
    summary = eng.ingest.ingest(source, "c")
    assert not summary.failed
    if where == "index_save":
        assert summary.reembedded == len(pending)
    else:
        assert summary.reconcile is not None and summary.reconcile.marked_indexed == len(pending)
    _assert_whole_collection(eng, files, assert_consistent)
    eng.close()


_KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from dataclasses import replace
    from backend import config
    from backend.engine import index, ingest

    # Small batches and flushes, so the run has several flushes to die in.
    _from_env = config.Settings.from_env.__func__
    config.Settings.from_env = classmethod(lambda cls, *a, **kw: replace(_from_env(cls, *a, **kw), ingest_batch=4))
    ingest.IngestService.ingest.__kwdefaults__["flush_every"] = 4
    _save, _n = index.VectorIndex.save, [0]

    def save(self, path):
        _save(self, path)
        _n[0] += 1
        if _n[0] == 3:  # 2nd flush: the cnn index is saved, the color index and the rows are not
            os.kill(os.getpid(), signal.SIGKILL)

    index.VectorIndex.save = save
    from backend.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


def test_sigkill_mid_ingest_then_rerun_leaves_catalog_and_indexes_in_agreement(
    tmp_path: Path, make_settings, paint_jpeg, assert_consistent
) -> None:
    source, files = _crash_source(tmp_path, paint_jpeg)
    settings = make_settings()
    env = {**os.environ, "ARTSNAP_DATA_DIR": str(settings.data_dir)}
    cmd = ["ingest", str(source), "--collection", "c", "--quiet"]
    killed = subprocess.run([sys.executable, "-c", _KILLER, *cmd], env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr[-2000:]

    eng = Engine.open(settings)  # the next run
    pending = eng.catalog.ids_with_status(eng.catalog.collection_id("c"), "pending")
    assert pending, "the kill should have left rows pending"
    summary = eng.ingest.ingest(source, "c")
    assert not summary.failed and summary.reconcile is not None
    _assert_whole_collection(eng, files, assert_consistent)
    eng.close()


def test_ingest_and_search_on_postgresql(
    tmp_path: Path, make_settings, postgres_url: str, small_collection, assert_consistent
) -> None:
    from backend.engine.search_options import SearchOptions

    source = write_files(
        tmp_path / "src", {**small_collection, "cubist/copy.jpg": small_collection["mondrian/mondrian_1.jpg"]}
    )
    eng = Engine.open(make_settings(database_url=postgres_url))
    try:
        summary = eng.ingest.ingest(source, "pg")
        assert (summary.added, summary.exact_duplicates, summary.failed) == (len(small_collection), 1, [])
        assert eng.ingest.ingest(source, "pg").already_done == len(small_collection) + 1
        assert_consistent(eng, "pg")
        items = by_path(eng, "pg")
        kept, dup = items["cubist/copy.jpg"], items["mondrian/mondrian_1.jpg"]  # sorted order: cubist/ first
        assert kept.status == "indexed" and dup.duplicate_of == kept.id
        assert kept.label_names == ["cubist", "mondrian"]
        hits = eng.search.search_image("pg", small_collection["seascape/seascape_2.jpg"], SearchOptions(top_k=3)).hits
        assert hits[0].item.source_path == "seascape/seascape_2.jpg"
    finally:
        eng.close()


def test_a_collection_whose_files_all_failed_searches_to_nothing(tmp_path: Path, engine: Engine) -> None:
    from backend.engine.search_options import SearchOptions

    source = write_files(tmp_path / "src", {"a/bad.jpg": b"\xff\xd8\xff garbage", "a/empty.png": b""})
    summary = engine.ingest.ingest(source, "broken")
    assert summary.added == 0 and len(summary.failed) == 2
    assert engine.search.search_image("broken", _distinct_jpeg(), SearchOptions()).hits == []
    assert engine.search.search_vectors("broken", {"cnn": [1.0] * 1280}, SearchOptions()).hits == []


def test_flat_images_are_indexed_not_linked_to_an_unrelated_picture(
    engine: Engine, tmp_path: Path, assert_consistent
) -> None:
    """A plain green and a black PNG used to become 'near duplicates' of a striped JPEG."""
    src = tmp_path / "flat"
    src.mkdir()
    stripes = np.zeros((120, 160, 3), np.uint8)
    stripes[:, ::16] = stripes[:, 1::16] = 255
    Image.fromarray(stripes).save(src / "a_stripes.jpg", "JPEG")
    Image.new("RGB", (200, 150), (30, 160, 60)).save(src / "b_green.png")
    Image.new("RGB", (64, 64)).save(src / "c_black.png")
    Image.new("RGB", (1, 1)).save(src / "d_speck.png")

    summary = engine.ingest.ingest(src, "flat")

    assert (summary.added, summary.near_duplicates, summary.exact_duplicates) == (3, 0, 0), summary.to_dict()
    assert [(e.source_path, e.code) for e in summary.failed] == [("d_speck.png", "bad_dimensions")]
    assert {v.status for v in by_path(engine, "flat").values()} == {"indexed"}
    assert_consistent(engine, "flat")


def test_ingest_never_reads_outside_its_source(engine: Engine, tmp_path: Path, paint_jpeg) -> None:
    """A link to a picture elsewhere on disk, and manifest rows that climb out, are reported, not copied."""
    elsewhere = tmp_path / "private"
    elsewhere.mkdir()
    (elsewhere / "private.jpg").write_bytes(paint_jpeg("seascape", 0))
    src = tmp_path / "src"
    (src / "mondrian").mkdir(parents=True)
    (src / "mondrian" / "m.jpg").write_bytes(paint_jpeg("mondrian", 1))
    (src / "mondrian" / "leak.jpg").symlink_to(elsewhere / "private.jpg")
    (src / "manifest.csv").write_text(f"path\nmondrian/m.jpg\n../private/private.jpg\n{elsewhere / 'private.jpg'}\n")

    folder = engine.ingest.ingest(src, "folder")
    manifest = engine.ingest.ingest(src / "manifest.csv", "manifest")

    assert folder.added == 1 and [(e.source_path, e.code) for e in folder.failed] == [
        ("mondrian/leak.jpg", "outside_source")
    ]
    assert manifest.added == 1 and {e.code for e in manifest.failed} == {"outside_source"} and len(manifest.failed) == 2
    stored = list((engine.settings.data_dir / "media").rglob("*.jpg"))
    assert len(stored) == 2  # m.jpg once per collection, nothing from elsewhere
