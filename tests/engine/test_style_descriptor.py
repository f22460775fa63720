"""The ``style`` descriptor end to end on real paintings: one backbone run, its own index,
weight and reasons, through the engine, the HTTP API and the CLI."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from backend.api import create_app
from backend.cli import main
from backend.config import Settings
from backend.engine.descriptors import BackboneRunner, build_descriptors, describe_all
from backend.engine.search_options import SearchOptions
from backend.engine.services import Engine

#: Two styles whose brushwork differs clearly (dark glazed baroque against broken impressionist
#: strokes), a few paintings each: enough to show retrieval by style, cheap to embed.
STYLES = ("baroque", "impressionism")
PER_STYLE = 10
STYLE_WORDS = "similar brushwork and texture (style statistics)"


@pytest.fixture(scope="module")
def style_source(tmp_path_factory: pytest.TempPathFactory, wikiart_zip: Path) -> Path:
    out = tmp_path_factory.mktemp("wikiart-two-styles")
    with zipfile.ZipFile(wikiart_zip) as z:
        for style in STYLES:
            names = sorted(n for n in z.namelist() if n.startswith(style + "/") and "_dup" not in n)[:PER_STYLE]
            assert len(names) == PER_STYLE, f"{style} has {len(names)} paintings in {wikiart_zip}"
            (out / style).mkdir()
            for n in names:
                (out / n).write_bytes(z.read(n))
    return out


@pytest.fixture(scope="module")
def style_data_dir(tmp_path_factory: pytest.TempPathFactory, models_dir: Path, embedding_model, style_source) -> Path:
    data_dir = tmp_path_factory.mktemp("style-data")
    (data_dir / "models").symlink_to(models_dir.resolve(), target_is_directory=True)
    eng = Engine.open(Settings(data_dir=data_dir))
    try:
        summary = eng.ingest.ingest(style_source, "styles")
        assert not summary.failed, summary.failed
    finally:
        eng.close()
    return data_dir


@pytest.fixture(scope="module")
def style_engine(style_data_dir: Path):
    eng = Engine.open(Settings(data_dir=style_data_dir))
    yield eng
    eng.close()


def test_one_backbone_run_gives_content_and_style_vectors(models_dir: Path, embedding_model, style_source) -> None:
    images = [Image.open(p).convert("RGB") for p in sorted(style_source.rglob("*.jpg"))[:4]]
    descriptors = build_descriptors(models_dir)
    runner = descriptors["cnn"].backbone  # type: ignore[attr-defined]  # a backbone descriptor has one
    assert isinstance(runner, BackboneRunner)
    runs = []
    real_run = runner.run
    runner.run = lambda ims: runs.append(len(ims)) or real_run(ims)  # type: ignore[method-assign]  # counting spy
    vectors = describe_all(descriptors, images)
    assert runs == [4], "cnn and style must come from one ONNX run"
    style = vectors["style"]
    assert style.shape == (4, descriptors["style"].dim)
    np.testing.assert_allclose(np.linalg.norm(style, axis=1), 1.0, atol=1e-5)
    # Not a constant: the four paintings get four different style vectors.
    sims = style @ style.T
    assert float(sims[~np.eye(4, dtype=bool)].max()) < 0.999
    # The style vector is its own thing, not the content embedding again.
    assert style.shape[1] != vectors["cnn"].shape[1]


def _items(engine: Engine) -> list:
    ids = engine.catalog.ids_with_status(engine.catalog.collection_id("styles"), "indexed")
    return list(engine.catalog.get_items(ids).values())


def _style_precision(engine: Engine, weights: dict[str, float], k: int = 5) -> float:
    items = _items(engine)
    hits = []
    for item in items:
        _, result = engine.search.related(item.id, SearchOptions(top_k=k, weights=weights))
        hits += [set(h.item.label_names) == set(item.label_names) for h in result.hits]
    return float(np.mean(hits))


def test_related_by_style_alone_finds_the_same_style_and_says_why(style_engine: Engine) -> None:
    items = _items(style_engine)
    assert len(items) == 2 * PER_STYLE
    _, result = style_engine.search.related(items[0].id, SearchOptions(top_k=5, weights={"style": 1.0}))
    assert result.hits
    for h in result.hits:
        assert h.reasons[0].startswith(STYLE_WORDS), h.reasons
        assert "style" in h.scores and "cnn" not in h.scores  # (plus the shared-label bonus)
    # Two styles, 10 each: chance is 9/19 ≈ 0.47 for a related item of the same style.
    assert _style_precision(style_engine, {"style": 1.0}) >= 0.8


def test_http_search_and_related_weigh_the_style_descriptor(style_data_dir: Path, style_source: Path) -> None:
    app = create_app(Settings(data_dir=style_data_dir))
    client = app.test_client()
    query = next(iter(sorted((style_source / STYLES[1]).glob("*.jpg"))))
    buf = io.BytesIO(query.read_bytes())
    resp = client.post(
        "/v1/collections/styles/search",
        data={"image": (buf, "q.jpg"), "options": json.dumps({"top_k": 3, "weights": {"style": 1, "cnn": 0}})},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["query"]["weighting"]["source"] == "caller"
    assert body["results"][0]["source_path"] == f"{STYLES[1]}/{query.name}"  # the painting finds itself
    assert any(r.startswith(STYLE_WORDS) for r in body["results"][0]["reasons"])
    assert {m["descriptor"] for m in body["models"]} == {"style"}

    item_id = body["results"][0]["id"]
    related = client.get(f"/v1/items/{item_id}/related?top_k=3").get_json()
    assert related["results"] and all(r["id"] != item_id for r in related["results"])


def test_cli_search_takes_style_weights(style_data_dir: Path, style_source: Path, capsys) -> None:
    query = sorted((style_source / STYLES[0]).glob("*.jpg"))[0]
    rc = main(
        ["--data-dir", str(style_data_dir), "search", str(query), "--collection", "styles", "--weights", "style=1"]
        + ["--top-k", "2", "--json"]
    )
    assert rc == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    top = line["results"][0]
    assert top["source_path"] == f"{STYLES[0]}/{query.name}"
    assert any(r.startswith(STYLE_WORDS) for r in top["reasons"])
