"""``artsnap ingest --ray`` on a local Ray cluster (2 CPUs) started by the test: the same catalog
and the same vectors as a local ingest, and it resumes as a local ingest does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from backend.engine.services import Engine  # noqa: E402
from backend.ray_ingest import ray_ingest_service  # noqa: E402

#: Starting a local Ray cluster alone takes tens of seconds on two cores.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def catalog_rows(eng: Engine, collection: str) -> dict[str, tuple]:
    cid = eng.catalog.collection_id(collection)
    ids = [i for status in ("indexed", "duplicate") for i in eng.catalog.ids_with_status(cid, status)]
    views = eng.catalog.get_items(ids)
    path_of = {v.id: v.source_path for v in views.values()}
    return {
        v.source_path: (v.status, v.sha256, v.width, v.height, tuple(v.label_names), path_of.get(v.duplicate_of or -1))
        for v in views.values()
    }


def vectors_by_path(eng: Engine, collection: str, name: str) -> dict[str, np.ndarray]:
    cid = eng.catalog.collection_id(collection)
    ids = eng.catalog.ids_with_status(cid, "indexed")
    views = eng.catalog.get_items(ids)
    vecs = eng.index_store.get(cid, name).reconstruct(np.asarray(ids, np.int64))
    return {views[i].source_path: v for i, v in zip(ids, vecs)}


def test_ray_ingest_matches_local_ingest_and_resumes(
    local_ray, tmp_path: Path, make_settings, demo_engine: Engine, demo_source, assert_consistent
) -> None:
    eng = Engine.open(make_settings(tmp_path / "ray-data"))
    try:
        service = ray_ingest_service(eng, "local", workers=2)
        first = service.ingest(demo_source.out_dir, "demo", limit=20)
        assert first.added + first.exact_duplicates + first.near_duplicates == 20 and not first.failed
        rest = service.ingest(demo_source.out_dir, "demo")  # resumes: the first 20 are not redone
        assert rest.already_done == 20 and not rest.failed
        assert_consistent(eng, "demo")
        assert catalog_rows(eng, "demo") == catalog_rows(demo_engine, "demo")
        for name in eng.descriptors:
            got, want = vectors_by_path(eng, "demo", name), vectors_by_path(demo_engine, "demo", name)
            assert got.keys() == want.keys()
            for path in want:
                np.testing.assert_allclose(got[path], want[path], atol=1e-4, err_msg=f"{name} of {path}")
    finally:
        eng.close()


def test_a_broken_file_is_reported_not_fatal_on_ray(local_ray, tmp_path: Path, make_settings, paint_jpeg) -> None:
    src = tmp_path / "src" / "a"
    src.mkdir(parents=True)
    (src / "good.jpg").write_bytes(paint_jpeg("stripes", 1))
    (src / "bad.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    eng = Engine.open(make_settings(tmp_path / "data"))
    try:
        summary = ray_ingest_service(eng, "local", workers=1).ingest(tmp_path / "src", "c")
        assert summary.added == 1 and [e.source_path for e in summary.failed] == ["a/bad.jpg"]
    finally:
        eng.close()
