"""``artsnap train-style`` on real paintings: train, register, reindex, and related items that
use the art-style embedding and say so."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from backend.api import create_app
from backend.cli import main
from backend.config import Settings
from backend.engine.services import Engine
from edge_models.style_model import load_style_model

STYLES = ("baroque", "impressionism", "symbolism")
PER_STYLE = 14


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory, wikiart_zip: Path) -> Path:
    out = tmp_path_factory.mktemp("wikiart-three-styles")
    with zipfile.ZipFile(wikiart_zip) as z:
        for style in STYLES:
            names = sorted(n for n in z.namelist() if n.startswith(style + "/") and "_dup" not in n)[:PER_STYLE]
            (out / style).mkdir()
            for n in names:
                (out / n).write_bytes(z.read(n))
    return out


def test_train_style_register_reindex_and_related_use_it(
    tmp_path: Path, models_dir: Path, embedding_model, labelled: Path, capsys
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "models").symlink_to(models_dir.resolve(), target_is_directory=True)
    base = ["--data-dir", str(data_dir)]
    assert main([*base, "ingest", str(labelled), "--collection", "art", "--quiet"]) == 0

    out = tmp_path / "style-model"
    args = ["train-style", str(labelled), "--out", str(out), "--epochs", "20", "--variants-per-label", "3"]
    rc = main([*base, *args, "--quiet", "--register"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "held-out mAP@10" in err and "next: artsnap reindex" in err
    assert ": the active style model; files:" in err  # not "the active classifier"
    assert "image-type model (scan, camera_photo, drawing)" in err and "learnt per-query weights" in err
    model = load_style_model(out)
    assert model.labels == sorted(STYLES)
    assert set(model.metrics["test_map_at_10"]) == {"cnn", "style", "artstyle", "fixed weights"}
    assert model.fixed_weights and abs(sum(model.fixed_weights.values()) - 1.0) < 1e-6
    # The fourth model: the kinds it could be trained on, each with weights chosen on validation.
    assert model.types is not None and model.types.types == ["scan", "camera_photo", "drawing"]
    assert set(model.type_weights) == {"scan", "camera_photo", "drawing"}
    assert all(abs(sum(w.values()) - 1.0) < 1e-6 for w in model.type_weights.values())
    assert set(model.metrics["weights_test_map_at_10"]) == {"learnt per-query", "best fixed", "true kind"}

    assert main([*base, "reindex", "--collection", "art"]) == 0
    eng = Engine.open(Settings(data_dir=data_dir))
    try:
        assert "artstyle" in eng.descriptors
        cid = eng.catalog.collection_id("art")
        ids = eng.catalog.ids_with_status(cid, "indexed")
        assert eng.index_store.get(cid, "artstyle").contains(np.array(ids)).all()
    finally:
        eng.close()

    client = create_app(Settings(data_dir=data_dir)).test_client()
    body = client.get(f"/v1/items/{ids[0]}/related?top_k=5").get_json()
    assert body["results"], body
    # The item's own stored vectors tell its kind (a scan, here); its weights rank and are said.
    weighting = body["weighting"]
    assert weighting["source"] == "image type" and weighting["type"] == "scan", weighting
    expected = model.weights_for(np.array([weighting["type_probabilities"][t] for t in model.types.types]))
    assert weighting["weights"] == pytest.approx({d: w for d, w in expected.items() if w > 0}, abs=2e-3)
    lead = body["results"][0]["reasons"][0]
    assert lead.startswith("weighted for a painting scan ("), lead
    if weighting["weights"].get("artstyle", 0) > 0:
        words = "same art style (style embedding trained on this collection's labels)"
        assert any(r.startswith(words) for r in body["results"][0]["reasons"]), body["results"][0]["reasons"]
    used = {m["descriptor"] for m in body["models"]}
    assert used == set(weighting["weights"])

    # Callers still choose: the art-style embedding alone, by name.
    opts = json.dumps({"top_k": 3, "weights": {"artstyle": 1}})
    query = sorted((labelled / STYLES[0]).glob("*.jpg"))[0]
    resp = client.post(
        "/v1/collections/art/search",
        data={"image": (query.open("rb"), "q.jpg"), "options": opts},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 200, resp.get_json()
    found = resp.get_json()
    assert {m["descriptor"] for m in found["models"]} == {"artstyle"}
    assert found["query"]["weighting"]["source"] == "caller"
    assert not any(r.startswith("weighted for") for h in found["results"] for r in h["reasons"])


def test_train_style_refuses_a_source_with_one_label(tmp_path: Path, labelled: Path, capsys) -> None:
    one = tmp_path / "one"
    (one / "baroque").mkdir(parents=True)
    for p in sorted((labelled / "baroque").glob("*.jpg"))[:6]:
        (one / "baroque" / p.name).write_bytes(p.read_bytes())
    rc = main(["--data-dir", str(tmp_path / "d"), "train-style", str(one), "--out", str(tmp_path / "m"), "--quiet"])
    assert rc == 2
    assert "needs 2+ single labels" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
