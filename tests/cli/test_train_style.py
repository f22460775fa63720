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
    rc = main([*base, "train-style", str(labelled), "--out", str(out), "--epochs", "20", "--quiet", "--register"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "held-out mAP@10" in err and "next: artsnap reindex" in err
    model = load_style_model(out)
    assert model.labels == sorted(STYLES)
    assert set(model.metrics["test_map_at_10"]) == {"cnn", "style", "artstyle", "fixed weights"}
    assert model.fixed_weights and abs(sum(model.fixed_weights.values()) - 1.0) < 1e-6

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
    if model.fixed_weights.get("artstyle", 0) > 0:
        words = "same art style (style embedding trained on this collection's labels)"
        assert any(r.startswith(words) for r in body["results"][0]["reasons"]), body["results"][0]["reasons"]
    used = {m["descriptor"] for m in body["models"]}
    assert used == {d for d, w in model.fixed_weights.items() if w > 0}

    # Callers still choose: the art-style embedding alone, by name.
    opts = json.dumps({"top_k": 3, "weights": {"artstyle": 1}})
    query = sorted((labelled / STYLES[0]).glob("*.jpg"))[0]
    resp = client.post(
        "/v1/collections/art/search",
        data={"image": (query.open("rb"), "q.jpg"), "options": opts},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 200, resp.get_json()
    assert {m["descriptor"] for m in resp.get_json()["models"]} == {"artstyle"}


def test_train_style_refuses_a_source_with_one_label(tmp_path: Path, labelled: Path, capsys) -> None:
    one = tmp_path / "one"
    (one / "baroque").mkdir(parents=True)
    for p in sorted((labelled / "baroque").glob("*.jpg"))[:6]:
        (one / "baroque" / p.name).write_bytes(p.read_bytes())
    rc = main(["--data-dir", str(tmp_path / "d"), "train-style", str(one), "--out", str(tmp_path / "m"), "--quiet"])
    assert rc == 2
    assert "needs 2+ single labels" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
