"""Delivery phones can trust (issue 11, defect 5): immutable versions, served hashes, 304s, per-platform files.

Each test registers a private copy of the session's exported tiny classifier into its own data
folder, then looks at what a phone would see over HTTP.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

from backend.api import create_app
from backend.engine.embedding_space import SERVER_SPACE_NAME, EmbeddingSpaceError, server_space
from backend.engine.model_registry import register_model_dir, store_dir


@pytest.fixture
def model_copy(tiny_phone_model, tmp_path: Path) -> Path:
    """A private copy of the exported model folder, free to re-export or delete."""
    _, result = tiny_phone_model
    target = tmp_path / "export"
    shutil.copytree(result.model_dir, target, ignore=shutil.ignore_patterns("*.mlpackage"))
    return target


@pytest.fixture
def app(make_settings):
    app = create_app(make_settings())
    yield app
    app.extensions["artsnap.engine"].close()


def _register(app, model_dir: Path, **kw: Any):
    eng = app.extensions["artsnap.engine"]
    return register_model_dir(eng.catalog, model_dir, store=store_dir(eng.settings.data_dir), **kw)


def _reexport(model_dir: Path) -> None:
    """What re-running export-classifier does to a .tflite: same model, the card re-embedded, new bytes."""
    from edge_models.tflite_metadata import CARD_KEY, embed_metadata, read_metadata

    path = model_dir / "classifier_fp32.tflite"
    card = json.loads(read_metadata(path)[CARD_KEY])
    card["created_at"] = "2099-01-01T00:00:00+00:00"
    path.write_bytes(embed_metadata(path.read_bytes(), {CARD_KEY: json.dumps(card).encode()}))


def test_a_reexport_is_a_new_version_and_the_old_version_keeps_its_bytes(app, model_copy: Path) -> None:
    c = app.test_client()
    first = _register(app, model_copy)
    old = c.get("/v1/models/latest").get_json()
    old_file = c.get(old["files"]["tflite_fp32"]["url"])
    assert hashlib.sha256(old_file.data).hexdigest() == old["files"]["tflite_fp32"]["sha256"]

    _reexport(model_copy)  # the export folder now holds other bytes under the same card version
    again = c.get(old["files"]["tflite_fp32"]["url"])
    assert again.status_code == 200 and again.data == old_file.data, "a registered version's bytes never change"
    assert (
        hashlib.sha256(again.data).hexdigest()
        == c.get(f"/v1/models/{first.version}").get_json()["files"]["tflite_fp32"]["sha256"]
    )

    second = _register(app, model_copy)
    assert second.version == f"{first.version}-r2" and second.active
    new = c.get("/v1/models/latest").get_json()
    assert new["version"] == second.version and new["card"]["version"] == first.version
    new_file = c.get(new["files"]["tflite_fp32"]["url"])
    assert (
        hashlib.sha256(new_file.data).hexdigest()
        == new["files"]["tflite_fp32"]["sha256"]
        != old["files"]["tflite_fp32"]["sha256"]
    )
    # Registering the very same files again is not a third version.
    assert _register(app, model_copy).version == second.version
    # The first version is still there, byte for byte, for phones that have it.
    assert (
        c.get(f"/v1/models/{first.version}").get_json()["files"]["tflite_fp32"]["sha256"]
        == old["files"]["tflite_fp32"]["sha256"]
    )


def test_registered_files_live_in_a_world_readable_store_and_survive_the_export_folder(app, model_copy: Path) -> None:
    old_umask = os.umask(0o077)  # a curator with a private umask must still serve readable files
    try:
        m = _register(app, model_copy)
    finally:
        os.umask(old_umask)
    shutil.rmtree(model_copy)
    data_dir = app.extensions["artsnap.engine"].settings.data_dir
    assert m.path.parent.parent == store_dir(data_dir)
    for p in [m.path, m.path.parent, *m.path.iterdir()]:
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode == (0o755 if p.is_dir() else 0o644), (p, oct(mode))
    c = app.test_client()
    latest = c.get("/v1/models/latest").get_json()
    for key, meta in latest["files"].items():
        got = c.get(meta["url"])
        assert got.status_code == 200, key
        assert (
            hashlib.sha256(got.data).hexdigest()
            == meta["sha256"]
            == hashlib.sha256((m.path / meta["name"]).read_bytes()).hexdigest()
        )
    # The server's own classifier loads from the store too.
    from edge_models.classifier import load_classifier

    assert load_classifier(m.path).labels == latest["card"]["labels"]


def test_model_files_are_written_readable_by_the_server(tmp_path: Path) -> None:
    from edge_models.model_card import write_atomic

    old_umask = os.umask(0o022)
    try:
        write_atomic(tmp_path / "classifier.tflite", b"model bytes")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "classifier.tflite").stat().st_mode) == 0o644


def test_if_none_match_answers_304(app, model_copy: Path) -> None:
    _register(app, model_copy)
    c = app.test_client()
    for url in ("/v1/models/latest", "/v1/models/latest?platform=ios"):
        first = c.get(url)
        etag = first.headers["ETag"]
        not_modified = c.get(url, headers={"If-None-Match": etag})
        assert not_modified.status_code == 304 and not_modified.data == b""
        assert c.get(url, headers={"If-None-Match": '"something-else"'}).status_code == 200
    meta = c.get("/v1/models/latest").get_json()["files"]["tflite_fp16"]
    download = c.get(meta["url"])
    assert download.headers["ETag"].strip('"') == meta["sha256"]
    assert c.get(meta["url"], headers={"If-None-Match": f'"{meta["sha256"]}"'}).status_code == 304
    # A new active version changes the answer, so the old ETag no longer matches.
    _reexport(model_copy)
    _register(app, model_copy)
    assert c.get("/v1/models/latest", headers={"If-None-Match": etag}).status_code == 200


def test_latest_for_a_platform_names_its_file_runtime_hash_and_card(app, model_copy: Path) -> None:
    m = _register(app, model_copy)
    c = app.test_client()
    doc = c.get("/openapi.json").get_json()

    ios = c.get("/v1/models/latest?platform=ios")
    body = ios.get_json()
    d = body["delivery"]
    assert d["key"] == "coreml_fp16" and d["platform"] == "ios" and d["format"] == "coreml"
    assert "iOS 16" in d["min_runtime"] and d["outputs"] == ["label", "label_probs", "embedding"]
    assert d["sha256"] == hashlib.sha256(c.get(d["url"]).data).hexdigest()
    assert body["card"]["labels"] == m.card["labels"] and body["card"]["preprocessing"]["input_size"] > 0
    _conforms(doc, body)

    android = c.get("/v1/models/latest?platform=android").get_json()["delivery"]
    assert android["key"] == "tflite_fp16" and android["format"] == "tflite"  # no int8 file: fp16 is next
    fp32 = c.get("/v1/models/latest?platform=android&precision=fp32").get_json()["delivery"]
    assert fp32["key"] == "tflite_fp32" and fp32["precision"] == "fp32"

    missing = c.get("/v1/models/latest?platform=android&precision=int8_full")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "no_delivery"
    assert "tflite_fp16" in missing.get_json()["error"]["message"]
    for bad in ("/v1/models/latest?platform=windows", "/v1/models/latest?precision=fp16"):
        resp = c.get(bad)
        assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "bad_platform"


def test_a_cards_deliveries_map_is_what_phones_get(app, model_copy: Path) -> None:
    card_path = model_copy / "model_card.json"
    card = json.loads(card_path.read_text())
    card["deliveries"] = {
        "tflite_fp16": {
            "platform": "android",
            "format": "tflite",
            "precision": "fp16",
            "min_runtime": "LiteRT 1.2 (Android 8.0, API 26)",
            "purpose": "GPU delegate",
            "outputs": ["probabilities", "embedding"],
        },
        "coreml_fp16": {"platform": "ios", "format": "coreml", "precision": "fp16", "min_runtime": "iOS 17"},
    }
    card_path.write_text(json.dumps(card))
    _register(app, model_copy)
    c = app.test_client()
    android = c.get("/v1/models/latest?platform=android").get_json()["delivery"]
    assert android["min_runtime"] == "LiteRT 1.2 (Android 8.0, API 26)" and android["purpose"] == "GPU delegate"
    assert c.get("/v1/models/latest?platform=ios").get_json()["delivery"]["min_runtime"] == "iOS 17"


def test_a_model_claiming_the_servers_embedding_space_must_be_in_it(app, model_copy: Path, tmp_path: Path) -> None:
    """Issue 11, defect 6: registering a classifier whose embeddings the server cannot search refuses."""
    from backend.cli import main
    from edge_models.weights import weights_sha256

    card_path = model_copy / "model_card.json"
    card = json.loads(card_path.read_text())
    assert card["extra"]["embedding_space"] == "tiny-test"  # its own space: registers, no vector search
    plain = _register(app, model_copy, activate=False)
    body = app.test_client().get(f"/v1/models/{plain.version}").get_json()
    assert body["embedding_space"].startswith("tiny-test@") and body["vector_search"] is False

    card["name"] = "claims-the-server-space"
    card["extra"]["embedding_space"] = SERVER_SPACE_NAME
    card["weights_sha256"] = weights_sha256()
    card["preprocessing"] = {**card["preprocessing"], "mean": [0.0, 0.0, 0.0], "std": [255.0, 255.0, 255.0]}
    card["outputs"][1]["shape"] = [-1, 1280]
    card_path.write_text(json.dumps(card))
    with pytest.raises(EmbeddingSpaceError, match="different weights or preprocessing"):
        _register(app, model_copy)
    data_dir = app.extensions["artsnap.engine"].settings.data_dir
    assert main(["--data-dir", str(data_dir), "models", "register", str(model_copy)]) == 2

    card["preprocessing"] = {k: v for k, v in plain.card["preprocessing"].items()}
    card_path.write_text(json.dumps(card))
    ok = _register(app, model_copy)  # same weights and preprocessing as the server: searchable by vector
    body = app.test_client().get(f"/v1/models/{ok.version}").get_json()
    assert body["embedding_space"] == server_space() and body["vector_search"] is True


def _conforms(doc: dict[str, Any], body: dict[str, Any]) -> None:
    from tests.api.test_api_contract import _check

    _check(body, {"$ref": "#/components/schemas/Model"}, doc)
