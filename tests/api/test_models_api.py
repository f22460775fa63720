"""The classifier reaches phones and the catalogue: register → /v1/models → SDK → ingest/search labels.

Trains the tiny test backbone (seconds) on a generated 3-style collection, exports ONNX and
TFLite, registers it, then checks what a phone and a curator see: the latest model's card and
download URLs, a verified download that runs on-device (LiteRT) and agrees with the server's
ONNX labels, machine labels on every ingested item (kept apart from curator labels), and the
query's predicted labels in search responses.
"""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest
from werkzeug.serving import make_server

pytest.importorskip("ai_edge_litert", reason="ai-edge-litert is needed to run .tflite files")


@pytest.fixture(scope="module")
def exported_model(tiny_phone_model):
    return tiny_phone_model


@pytest.fixture
def served(make_settings, exported_model):
    from backend.api import create_app
    from backend.engine.model_registry import register_model_dir, store_dir

    coll, result = exported_model
    app = create_app(make_settings())
    engine = app.extensions["artsnap.engine"]
    registered = register_model_dir(engine.catalog, result.model_dir, store=store_dir(engine.settings.data_dir))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, engine, registered, coll, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


def test_latest_model_lists_verified_downloads(served):
    app, _, registered, _, _ = served
    client = app.test_client()
    latest = client.get("/v1/models/latest").get_json()
    assert latest["version"] == registered.version and latest["active"] is True
    assert {"onnx", "tflite_fp32"} <= set(latest["files"])
    card = latest["card"]
    assert card["labels"] == registered.card["labels"]
    assert card["preprocessing"]["input_size"] > 0 and len(card["preprocessing"]["mean"]) == 3
    got = client.get(latest["files"]["tflite_fp32"]["url"])
    assert got.status_code == 200
    import hashlib

    assert hashlib.sha256(got.data).hexdigest() == latest["files"]["tflite_fp32"]["sha256"]
    assert client.get(f"/v1/models/{registered.version}").get_json()["version"] == registered.version
    missing = client.get(f"/v1/models/{registered.version}/files/nope")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "unknown_model"
    assert client.get("/v1/models/no-such-version").status_code == 404


def test_phone_sdk_downloads_once_and_agrees_with_the_server(served, tmp_path):
    from PIL import Image

    from edge_models.classifier import load_classifier
    from mobile_sdk_stubs import ArtsnapClient, OnDeviceModel

    _, _, registered, coll, url = served
    sdk = ArtsnapClient(url)
    first = asyncio.run(sdk.download_model(tmp_path, key="tflite_fp32"))
    mtime = first.path.stat().st_mtime_ns
    again = asyncio.run(sdk.download_model(tmp_path, key="tflite_fp32"))
    assert again.path == first.path and again.path.stat().st_mtime_ns == mtime  # cached by version + hash
    phone = OnDeviceModel.load(first.path)
    server = load_classifier(registered.path)
    paths = sorted(coll.root.glob("*/*.jpg"))[::7][:8]
    agree = 0
    for p in paths:
        img = Image.open(p).convert("RGB")
        on_device = phone.predict(img)
        probs, emb = server.run_batch(server.config.spec.to_batch([img]))
        assert np.allclose([on_device.probabilities[n] for n in server.labels], probs[0], atol=1e-4)
        assert np.isclose(np.linalg.norm(on_device.embedding), 1.0, atol=1e-4)
        agree += on_device.labels[:1] == [
            (p.label, pytest.approx(p.confidence, abs=1e-4)) for p in server.predict([img])[0][:1]
        ]
    assert agree == len(paths)


def test_ingest_stores_machine_labels_apart_and_search_reports_query_labels(served, paint_jpeg):
    app, engine, registered, coll, _ = served
    summary = engine.ingest.ingest(coll.root, "styles")
    assert summary.added > 0
    cid = engine.catalog.collection_id("styles")
    items = engine.catalog.get_items(engine.catalog.ids_with_status(cid, "indexed"))
    labels = set(registered.card["labels"])
    machine = [lb for v in items.values() for lb in v.labels if lb.source == "machine"]
    curator = [lb for v in items.values() for lb in v.labels if lb.source == "curator"]
    assert curator and machine, "both kinds of labels are stored"
    assert all(lb.name in labels and 0 < (lb.confidence or 0) <= 1 and lb.status == "proposed" for lb in machine)
    # What ingest stored is exactly what the active classifier says about each picture.
    from PIL import Image

    from edge_models.classifier import load_classifier

    clf = load_classifier(registered.path)
    for view in list(items.values())[:12]:
        img = Image.open(coll.root / view.source_path).convert("RGB")
        expected = {
            (p.label, round(p.confidence, 4)) for p in clf.predict([img], top_k=3, trusted=True)[0]
        }  # only trusted labels are stored
        stored = {(lb.name, round(lb.confidence or 0, 4)) for lb in view.labels if lb.source == "machine"}
        assert stored == expected, view.source_path
    photo = next(coll.root.glob("*/*.jpg")).read_bytes()
    resp = app.test_client().post(
        "/v1/collections/styles/search", data={"image": (__import__("io").BytesIO(photo), "q.jpg")}
    )
    body = resp.get_json()
    assert resp.status_code == 200
    server_labels = [q for q in body["query"]["labels"] if q["source"] == "server"]
    assert server_labels and server_labels[0]["name"] in labels
    assert any(m.get("descriptor") == "classifier" and m["version"] == registered.version for m in body["models"])
