"""The Kotlin client (issue 11, defect 3): it compiles, and its JVM core works against a real server.

``mobile_sdk_stubs/kotlin/{core,jvm,check}`` is compiled with kotlinc 2.4 (npm) against Debian's
JDK and jars, then ``check/ClientCheck.kt`` runs the client's steps from a JSON plan against an
artsnap server on 127.0.0.1 and prints what happened. The answers are compared with the
server, the model files and the Python reference client: a verified download (and a refused
tampered one), the model input of an EXIF-rotated 12 MP photo, the top-1/abstain decision,
the upload (upright, <= 1 024 px), and searches by photo and by vector with its space.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageOps

from tests.clients.support import COLLECTION, compile_kotlin_client, kotlin_toolchain

pytest.importorskip("ai_edge_litert", reason="ai-edge-litert is needed to run .tflite files")


@pytest.fixture(scope="module")
def kotlin_classpath() -> list[Path]:
    kotlinc, why = kotlin_toolchain()
    if kotlinc is None:
        pytest.skip(why)
    _, classpath = compile_kotlin_client(kotlinc)
    return classpath


def run_kotlin(classpath: list[Path], base_url: str, steps: list[dict[str, Any]], tmp: Path) -> list[dict[str, Any]]:
    plan = tmp / f"plan-{len(list(tmp.glob('plan-*')))}.json"
    plan.write_text(json.dumps({"base_url": base_url, "steps": steps}))
    proc = subprocess.run(
        ["java", "-cp", ":".join(map(str, classpath)), "eu.artsnap.client.check.ClientCheckKt", str(plan)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    out: list[dict[str, Any]] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def test_download_is_verified_once_per_version_and_a_tampered_file_is_refused(
    kotlin_classpath, server, tmp_path: Path
) -> None:
    registered = server["registered"]
    latest = server["app"].test_client().get("/v1/models/latest?platform=android").get_json()
    cache = tmp_path / "cache"
    first, again = run_kotlin(
        kotlin_classpath,
        server["url"],
        [{"op": "download", "cache": str(cache), "platform": "android"}] * 2,
        tmp_path,
    )
    assert first["ok"], first
    assert first["key"] == latest["delivery"]["key"] == "tflite_fp16"
    assert first["sha256"] == latest["delivery"]["sha256"] == again["sha256"]
    assert first["version"] == registered.version and first["embedding_space"] == latest["embedding_space"]
    assert first["labels"] == registered.card["labels"]
    downloaded = Path(first["path"])
    assert downloaded.read_bytes() == (registered.path / latest["delivery"]["name"]).read_bytes()
    card = json.loads((downloaded.parent / "model_card.json").read_text())
    assert card["version"] == registered.version and card["embedding_space"] == latest["embedding_space"]

    # The server's copy goes bad (disk, proxy, attacker): the client must refuse it, keep nothing.
    stored = registered.path / latest["delivery"]["name"]
    good = stored.read_bytes()
    try:
        stored.write_bytes(good[:-16] + bytes(16))
        fresh = tmp_path / "fresh"
        (refused,) = run_kotlin(
            kotlin_classpath, server["url"], [{"op": "download", "cache": str(fresh), "platform": "android"}], tmp_path
        )
    finally:
        stored.write_bytes(good)
    assert not refused["ok"] and refused["error"]["code"] == "checksum_mismatch"
    assert not [p for p in (fresh / registered.version).iterdir() if p.suffix in (".tflite", ".part")]


def test_model_input_matches_the_python_client_on_a_rotated_12mp_photo(
    kotlin_classpath, server, photo, tmp_path: Path
) -> None:
    from mobile_sdk_stubs import OnDeviceModel

    path, upright = photo
    (dl,) = run_kotlin(
        kotlin_classpath,
        server["url"],
        [{"op": "download", "cache": str(tmp_path / "cache"), "platform": "android", "precision": "fp32"}],
        tmp_path,
    )
    card_path = Path(dl["path"]).parent / "model_card.json"
    (inp,) = run_kotlin(
        kotlin_classpath,
        server["url"],
        [{"op": "input", "card": str(card_path), "photo": str(path), "out": str(tmp_path / "x.f32")}],
        tmp_path,
    )
    model = OnDeviceModel.load(dl["path"])
    size = model.spec.input_size
    kotlin_x = np.fromfile(tmp_path / "x.f32", dtype="<f4").reshape(1, size, size, 3)
    python_x = model.input_tensor(path)
    diff = np.abs(kotlin_x - python_x)
    # Same algorithm (Pillow's antialiased bilinear); only the JPEG decoders differ (ImageIO vs libjpeg-turbo).
    assert diff.mean() < 0.5 / 128 and diff.max() <= 4 / 128, (diff.mean() * 128, diff.max() * 128)
    sideways = model.spec.to_array(Image.open(path).convert("RGB")).transpose(1, 2, 0)[None]
    assert np.abs(kotlin_x - sideways).mean() > 10 * diff.mean(), "the EXIF orientation was applied"
    w = round(upright.width * model.spec.resize_shorter / min(upright.size))
    h = round(upright.height * model.spec.resize_shorter / min(upright.size))
    naive = upright.resize((w, h), Image.Resampling.NEAREST)  # what a resize without antialiasing sees
    left, top = (w - size) // 2, (h - size) // 2
    naive_x = (np.asarray(naive.crop((left, top, left + size, top + size)), np.float32) - 127) / 128
    assert np.abs(kotlin_x[0] - naive_x).mean() > 10 * diff.mean(), "the resize antialiases"
    # The phone's answer on its own input is the Python client's answer.
    on_kotlin_input = model.predict_tensor(kotlin_x)
    on_python_input = model.predict(path)
    assert [n for n, _ in on_kotlin_input.labels] == [n for n, _ in on_python_input.labels]
    (decided,) = run_kotlin(
        kotlin_classpath,
        server["url"],
        [
            {
                "op": "decide",
                "card": str(card_path),
                "probabilities": [on_kotlin_input.probabilities[n] for n in model.labels],
            }
        ],
        tmp_path,
    )
    assert [lb["name"] for lb in decided["labels"]] == [n for n, _ in on_kotlin_input.labels]


def test_top1_with_the_cards_abstain_threshold(kotlin_classpath, server, tmp_path: Path) -> None:
    card = dict(server["registered"].card)
    card["extra"] = {**card["extra"], "multi_label": False, "abstain_threshold": 0.6}
    card_path = tmp_path / "card.json"
    card_path.write_text(json.dumps(card))
    n = len(card["labels"])
    confident = [0.1] * n
    confident[1] = 1 - 0.1 * (n - 1)
    unsure = [1 / n] * n
    got = run_kotlin(
        kotlin_classpath,
        server["url"],
        [{"op": "decide", "card": str(card_path), "probabilities": p} for p in (confident, unsure)],
        tmp_path,
    )
    assert [lb["name"] for lb in got[0]["labels"]] == [card["labels"][1]]  # top-1 only, never top-3
    assert got[1]["labels"] == []  # below the threshold: "none of these"


def test_every_exif_orientation_turns_the_photo_upright_as_pillow_does(
    kotlin_classpath, server, tmp_path: Path
) -> None:
    rng = np.random.default_rng(1)
    stored = rng.integers(0, 256, size=(3, 5, 3), dtype=np.uint8)  # 5 wide, 3 high
    (tmp_path / "raw.rgb").write_bytes(stored.tobytes())
    steps = [
        {
            "op": "orient",
            "raw": str(tmp_path / "raw.rgb"),
            "width": 5,
            "height": 3,
            "orientation": o,
            "out": str(tmp_path / f"o{o}.rgb"),
        }
        for o in range(1, 9)
    ]
    results = run_kotlin(kotlin_classpath, server["url"], steps, tmp_path)
    for o, res in zip(range(1, 9), results, strict=True):
        img = Image.fromarray(stored, "RGB")
        exif = img.getexif()
        exif[0x0112] = o
        img.info["exif"] = exif.tobytes()
        expected = np.asarray(ImageOps.exif_transpose(img))
        got = np.frombuffer((tmp_path / f"o{o}.rgb").read_bytes(), np.uint8).reshape(res["height"], res["width"], 3)
        np.testing.assert_array_equal(got, expected, err_msg=f"orientation {o}")


def test_uploads_are_upright_and_at_most_1024_px_and_searches_agree_with_python(
    kotlin_classpath, server, photo, tmp_path: Path
) -> None:
    from backend.engine.embedding_space import server_space
    from mobile_sdk_stubs import ArtsnapClient, OnDeviceModel
    from mobile_sdk_stubs.photos import prepare_upload

    path, upright = photo
    app = server["app"]
    sdk = ArtsnapClient(server["url"])
    dl = asyncio.run(sdk.download_model(tmp_path / "py", platform="android"))
    phone = OnDeviceModel.load(dl.path)
    tiny_vec = phone.predict(path).embedding.tolist()
    server_vec = app.extensions["artsnap.engine"].descriptors["cnn"].describe([upright])[0].tolist()
    upload, by_photo, foreign, by_vector, no_space = run_kotlin(
        kotlin_classpath,
        server["url"],
        [
            {"op": "upload", "photo": str(path), "out": str(tmp_path / "upload.jpg")},
            {"op": "search_photo", "collection": COLLECTION, "photo": str(path), "top_k": 5},
            {"op": "search_vector", "collection": COLLECTION, "vector": tiny_vec, "space": dl.embedding_space},
            {"op": "search_vector", "collection": COLLECTION, "vector": server_vec, "space": server_space()},
            {"op": "search_vector", "collection": COLLECTION, "vector": server_vec, "space": None},
        ],
        tmp_path,
    )
    sent = Image.open(tmp_path / "upload.jpg")
    assert sent.size == (768, 1024) == tuple(s * 1024 // 4032 for s in upright.size)  # upright portrait
    python_sent = Image.open(__import__("io").BytesIO(prepare_upload(path)))
    assert python_sent.size == sent.size
    assert np.abs(np.asarray(sent, np.float32) - np.asarray(python_sent, np.float32)).mean() < 3

    assert by_photo["ok"], by_photo
    py_photo = asyncio.run(sdk.search_photo(COLLECTION, path, top_k=5))
    assert by_photo["response"]["results"][0]["id"] == py_photo["results"][0]["id"]

    # The tiny phone model's vectors are not in the server's space: refused, with what to do.
    assert not foreign["ok"] and foreign["error"]["status"] == 409
    assert foreign["error"]["code"] == "foreign_embedding_space" and "photo" in foreign["error"]["message"]
    assert by_vector["ok"], by_vector
    py_vector = asyncio.run(sdk.search_embedding(COLLECTION, server_vec, embedding_space=server_space(), top_k=5))
    assert [h["id"] for h in by_vector["response"]["results"]] == [h["id"] for h in py_vector["results"]]
    assert not no_space["ok"] and no_space["error"]["code"] == "missing_embedding_space"


def test_the_android_layer_uses_only_public_litert_and_android_api() -> None:
    """The Android file cannot be compiled here (no android.jar); keep it on the public API it documents."""
    from tests.clients.support import KOTLIN_DIR

    src = (KOTLIN_DIR / "android" / "AndroidArtsnap.kt").read_text()
    code = "\n".join(line for line in src.splitlines() if not line.lstrip().startswith("//"))
    assert "getSignatureRunner" not in code and "runSignature(" in code
    assert "createScaledBitmap" not in code  # it does not antialias: the core's resize does
    assert "ExifInterface" in code and "TAG_ORIENTATION" in code
    assert ".execute()" not in code and "runBlocking" not in code  # no blocking network or waits
    assert not (KOTLIN_DIR / "ArtsnapClient.kt").exists()
