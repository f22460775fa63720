"""The Milvus vector store on a real embedded engine (milvus-lite): the engine's answers and
crash guarantees are the FAISS store's, and ``migrate-index`` moves a collection between them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from backend.config import Settings
from backend.engine.index import IndexConfigError
from backend.engine.migrate_store import migrate_collection
from backend.engine.milvus_mapping import index_spec, parse_vector_store
from backend.engine.search_options import SearchOptions
from backend.engine.services import Engine, build_index_store


@pytest.fixture
def milvus_demo(writable_demo: Path, tmp_path: Path):
    """The demo collection moved into a milvus-lite store; yields (faiss engine, milvus engine)."""
    uri = f"milvus://{tmp_path / 'milvus.db'}"
    faiss_eng = Engine.open(Settings(data_dir=writable_demo))
    target = build_index_store(
        Settings(data_dir=writable_demo, vector_store=uri), faiss_eng.descriptors, faiss_eng.catalog
    )
    done = migrate_collection(faiss_eng.catalog, faiss_eng.index_store, target, "demo")
    assert done.vectors["cnn"] == len(
        faiss_eng.catalog.ids_with_status(faiss_eng.catalog.collection_id("demo"), "indexed")
    )
    milvus_eng = Engine.open(Settings(data_dir=writable_demo, vector_store=uri))
    yield faiss_eng, milvus_eng
    milvus_eng.close()
    faiss_eng.close()


def milvus_ids(eng: Engine, name: str = "cnn") -> set[int]:
    return set(eng.index_store.get(eng.catalog.collection_id("demo"), name).ids().tolist())


def test_milvus_store_answers_as_faiss_does(milvus_demo, demo_source) -> None:
    faiss_eng, milvus_eng = milvus_demo
    query = next(Path(demo_source.out_dir).glob("seascape/*.jpg")).read_bytes()
    want = faiss_eng.search.search_image("demo", query, SearchOptions(top_k=8))
    got = milvus_eng.search.search_image("demo", query, SearchOptions(top_k=8))
    assert [h.item.id for h in got.hits] == [h.item.id for h in want.hits]
    np.testing.assert_allclose([h.score for h in got.hits], [h.score for h in want.hits], atol=1e-5)
    # A label filter reaches Milvus as an id expression: only that label comes back.
    filtered = milvus_eng.search.search_image("demo", query, SearchOptions(top_k=8, filter_labels=("mondrian",)))
    assert filtered.hits and all(h.item.source_path.startswith("mondrian/") for h in filtered.hits)
    # Related items read stored vectors back from Milvus.
    item = want.hits[0].item.id
    assert [h.item.id for h in milvus_eng.search.related(item, SearchOptions(top_k=5))[1].hits] == [
        h.item.id for h in faiss_eng.search.related(item, SearchOptions(top_k=5))[1].hits
    ]


def test_add_and_delete_go_through_to_milvus(milvus_demo, paint_jpeg) -> None:
    _, eng = milvus_demo
    item_id, dup, _ = eng.ingest.add_one("demo", paint_jpeg("stripes", 77, size=160), source_path="new/one.jpg")
    assert dup is None and item_id in milvus_ids(eng) and item_id in milvus_ids(eng, "color")
    hits = eng.search.search_image("demo", paint_jpeg("stripes", 77, size=160), SearchOptions(top_k=1)).hits
    assert hits[0].item.id == item_id
    eng.ingest.delete(item_id)
    assert item_id not in milvus_ids(eng)
    # A search that raced the delete (contains, then reconstruct) gets a vector that scores nothing.
    gone = eng.index_store.get(eng.catalog.collection_id("demo"), "cnn").reconstruct(np.array([item_id]))
    assert not gone.any()


def test_reconcile_after_a_crash_repairs_milvus(milvus_demo) -> None:
    """A crash between the vector write and the catalog update, a lost vector and a deleted
    item's leftover vector: reconcile makes Milvus and the catalog agree again."""
    _, eng = milvus_demo
    cat, store = eng.catalog, eng.index_store
    cid = cat.collection_id("demo")
    indexed = cat.ids_with_status(cid, "indexed")
    written_not_marked, lost = indexed[0], indexed[1]
    cat.set_status([written_not_marked], "pending")  # the crash: vectors saved, row not yet marked
    with store.writer(cid) as idx:
        for name in idx:
            idx[name].remove(np.array([lost]))  # the vector never made it
            idx[name].add(np.array([99_999]), np.ones((1, idx[name].meta.dim), np.float32))  # a stale id
        store.save(cid, idx)
    with store.writer(cid) as idx:
        indexes = len(idx)
        report = store.reconcile(cat, cid, idx)
    # the stale id leaves every descriptor's index
    assert (report.marked_indexed, report.marked_pending) == (1, 1) and report.removed_from_index == indexes
    assert cat.ids_with_status(cid, "pending") == [lost]
    assert 99_999 not in milvus_ids(eng) and written_not_marked in milvus_ids(eng)
    # The next ingest re-embeds the pending item from the media store.
    with store.writer(cid) as idx:
        assert eng.ingest._reembed_pending(cid, idx) == 1
    assert cat.ids_with_status(cid, "pending") == [] and lost in milvus_ids(eng)


def test_a_first_ingest_that_crashed_before_its_first_save_is_served_after_the_next(milvus_demo) -> None:
    """Vectors written, no alias yet (the crash), rows still pending: the next run serves them."""
    _, eng = milvus_demo
    cat, store = eng.catalog, eng.index_store
    cid = cat.collection_id("demo")
    indexed = cat.ids_with_status(cid, "indexed")
    for name in eng.descriptors:
        store.client.drop_alias(store.alias(cid, name))
    cat.set_status(indexed, "pending")
    store._cache.clear()
    assert milvus_ids(eng) == set()  # nothing served: the alias is gone
    with store.writer(cid) as idx:
        report = store.reconcile(cat, cid, idx)
    assert report.marked_indexed == len(indexed)
    assert milvus_ids(eng) == set(indexed) and milvus_ids(eng, "color") == set(indexed)


def test_rebuild_switches_generations_and_rolls_back(milvus_demo) -> None:
    _, eng = milvus_demo
    store = eng.index_store
    cid = eng.catalog.collection_id("demo")
    before = milvus_ids(eng)
    with store.writer(cid, rebuild=["cnn"]) as idx:
        keep = np.array(sorted(before)[:5], np.int64)
        idx["cnn"].add(keep, store.get(cid, "cnn").reconstruct(keep))
        assert milvus_ids(eng) == before  # readers still see the serving generation
        store.save(cid, {"cnn": idx["cnn"]})
    assert milvus_ids(eng) == set(keep.tolist())
    store.rollback(cid, "cnn")
    assert milvus_ids(eng) == before


def test_a_vector_store_uri_is_checked() -> None:
    assert parse_vector_store("faiss") is None
    assert parse_vector_store("milvus:///srv/m.db").uri == "/srv/m.db"  # type: ignore[union-attr]  # not None here
    assert parse_vector_store("milvus://db:19530").uri == "http://db:19530"  # type: ignore[union-attr]  # not None here
    with pytest.raises(IndexConfigError, match="Milvus URI"):
        parse_vector_store("redis://x")


@pytest.mark.parametrize(
    ("factory", "index_type", "params"),
    [
        ("Flat", "FLAT", {}),
        ("HNSW32", "HNSW", {"M": 32, "efConstruction": 200}),
        ("IVF1024,Flat", "IVF_FLAT", {"nlist": 1024}),
        ("IVF256,PQ16", "IVF_PQ", {"nlist": 256, "m": 16}),
        ("BIVF64", "BIN_IVF_FLAT", {"nlist": 64}),
    ],
)
def test_factories_map_to_milvus_index_types(factory: str, index_type: str, params: dict[str, int]) -> None:
    spec = index_spec(factory, "nprobe=16")
    assert (spec.index_type, spec.params, spec.search_params) == (index_type, params, {"nprobe": 16})


def test_a_factory_milvus_lacks_is_refused_by_name() -> None:
    with pytest.raises(IndexConfigError, match="OPQ16_64,IVF1024,PQ16.*no Milvus equivalent"):
        index_spec("OPQ16_64,IVF1024,PQ16")


def test_a_type_milvus_lite_lacks_is_a_clear_config_error(tmp_path: Path) -> None:
    """Trained codes map to BINARY_VECTOR, which a Milvus server has and milvus-lite does not:
    the refusal says so (a config error, 500), not that the store is down (503)."""
    from pymilvus import MilvusClient

    from backend.engine.index import IndexMeta
    from backend.engine.milvus_index import MilvusIndex

    client = MilvusClient(uri=str(tmp_path / "codes.db"))
    codes = MilvusIndex(IndexMeta("code", 16, "BFlat", "v1"), client, "codes_g1", timeout=30.0)
    with pytest.raises(IndexConfigError, match="Milvus refused the request.*BinaryVector"):
        codes.add(np.array([1]), np.ones((1, 16), np.float32) / 4)
