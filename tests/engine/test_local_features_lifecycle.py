"""Local features through a collection's life: ingest, delete, upgrade and backfill, crash, reindex."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from backend.cli import main
from backend.engine.search_options import SearchOptions
from backend.engine.services import Engine
from dataset_tools.camera_snap import simulate_snap
from dataset_tools.demo import paint

FAMILIES = ("cubist", "pointillism", "starry_swirls", "seascape")


def _jpeg(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=92)
    return buf.getvalue()


@pytest.fixture
def source(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    for fam in FAMILIES:
        (root / fam).mkdir(parents=True)
        for i in range(4):
            (root / fam / f"{fam}_{i}.jpg").write_bytes(_jpeg(paint(fam, i, size=256, seed=2)))
    return root


def _snap(fam: str, i: int) -> bytes:
    return simulate_snap(paint(fam, i, size=256, seed=2), np.random.default_rng([FAMILIES.index(fam), i])).jpeg


def test_deleting_an_item_removes_its_local_features(writable_demo: Path, make_settings, assert_consistent) -> None:
    eng = Engine.open(make_settings(writable_demo))
    try:
        cid = eng.catalog.collection_id("demo")
        victim = eng.catalog.ids_with_status(cid, "indexed")[3]
        assert eng.feature_store.get(cid).get(victim) is not None
        eng.ingest.delete(victim)
        assert eng.feature_store.get(cid).get(victim) is None
        assert victim not in eng.feature_store.writer(cid).ids()
        assert_consistent(eng, "demo")
    finally:
        eng.close()


def test_a_collection_from_before_local_features_is_backfilled_with_one_command(
    source: Path, make_settings, assert_consistent, capsys
) -> None:
    settings = make_settings()
    eng = Engine.open(settings)
    eng.ingest.ingest(source, "old")
    cid = eng.catalog.collection_id("old")
    eng.close()
    shutil.rmtree(settings.index_dir / str(cid) / "local-features")  # as an older artsnap left it

    eng = Engine.open(settings)
    try:
        before = eng.search.search_image("old", _snap("cubist", 1), SearchOptions(top_k=3))
        assert before.match is None and before.hits  # today's answer, not an error
        (warning,) = before.warnings
        assert "artsnap reindex --collection old --only local-features" in warning
        # an ingest into it does not start a half-filled store (older items would look unfinished)
        extra = source.parent / "more" / "cubist"
        extra.mkdir(parents=True)
        (extra / "cubist_9.jpg").write_bytes(_jpeg(paint("cubist", 9, size=256, seed=2)))
        summary = eng.ingest.ingest(extra.parent, "old")
        assert summary.added == 1 and not summary.local_features
        assert "--only local-features" in summary.notes()[0]
        assert not eng.feature_store.get(cid).exists
    finally:
        eng.close()

    args = ["--data-dir", str(settings.data_dir), "reindex", "--collection", "old", "--only", "local-features"]
    assert main([*args, "--quiet"]) == 0
    assert "local features extracted for 17 items" in capsys.readouterr().err

    eng = Engine.open(settings)
    try:
        assert_consistent(eng, "old")
        after = eng.search.search_image("old", _snap("cubist", 1), SearchOptions(top_k=3))
        assert after.warnings == []
        assert after.match is not None and after.match.hit.item.source_path == "cubist/cubist_1.jpg"
        assert eng.ingest.ingest(source, "old").local_features  # new items get features from now on
    finally:
        eng.close()


def test_reindex_rebuilds_local_features_too(source: Path, make_settings, assert_consistent) -> None:
    settings = make_settings()
    eng = Engine.open(settings)
    eng.ingest.ingest(source, "c")
    eng.close()
    assert main(["--data-dir", str(settings.data_dir), "reindex", "--collection", "c"]) == 0
    eng = Engine.open(settings)
    try:
        assert_consistent(eng, "c")
        hit = eng.search.search_image("c", _snap("seascape", 2), SearchOptions(top_k=3)).match
        assert hit is not None and hit.hit.item.source_path == "seascape/seascape_2.jpg"
    finally:
        eng.close()


_KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from dataclasses import replace
    from backend import config
    from backend.engine import ingest
    from backend.engine.recognition import feature_store

    _from_env = config.Settings.from_env.__func__
    config.Settings.from_env = classmethod(lambda cls, *a, **kw: replace(_from_env(cls, *a, **kw), ingest_batch=4))
    ingest.IngestService.ingest.__kwdefaults__["flush_every"] = 4
    _write, _n = feature_store._Manifest.write, [0]

    def write(self, path):
        _n[0] += 1
        if _n[0] == 2:  # 2nd flush: its features segment is on disk, its manifest is not
            os.kill(os.getpid(), signal.SIGKILL)
        _write(self, path)

    feature_store._Manifest.write = write
    from backend.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


def test_sigkill_while_saving_local_features_then_rerun_agrees(source: Path, make_settings, assert_consistent) -> None:
    settings = make_settings()
    env = {**os.environ, "ARTSNAP_DATA_DIR": str(settings.data_dir)}
    cmd = ["ingest", str(source), "--collection", "c", "--quiet"]
    killed = subprocess.run([sys.executable, "-c", _KILLER, *cmd], env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr[-2000:]

    eng = Engine.open(settings)
    try:
        cid = eng.catalog.collection_id("c")
        assert eng.catalog.ids_with_status(cid, "pending"), "the kill should have left rows pending"
        summary = eng.ingest.ingest(source, "c")
        assert not summary.failed and summary.added + summary.already_done == 16
        assert_consistent(eng, "c")
        folder = settings.index_dir / str(cid) / "local-features"
        listed = set(eng.feature_store.get(cid)._manifest.segments)
        assert {p.name.split(".")[0] for p in folder.glob("seg-*")} == listed  # no leftovers of the cut
        hit = eng.search.search_image("c", _snap("pointillism", 3), SearchOptions(top_k=3)).match
        assert hit is not None and hit.hit.item.source_path == "pointillism/pointillism_3.jpg"
    finally:
        eng.close()
