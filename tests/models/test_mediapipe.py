"""The .tflite files as MediaPipe Tasks loads them on Android, against the server's classifier.

MediaPipe refused the old files ("Input tensor has type float32: it requires specifying
NormalizationOptions metadata"): they carried only our own metadata buffer. Now every file
carries the TFLite Support metadata (normalisation, image properties, labels.txt), and the
one-output files load in ``ImageClassifier`` / ``ImageEmbedder``. The MediaPipe runs happen in
``.venv-mediapipe`` (``make mediapipe``: its OpenCV clashes with the server's), through
``mediapipe_runner.py``; without that venv these tests skip.
"""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edge_models.classifier import load_classifier
from edge_models.export_tflite import run_tflite
from edge_models.model_dir import read_sample_images
from edge_models.resize_paths import camera_photos, shrink
from edge_models.tflite_metadata import CARD_KEY, read_metadata
from tests.conftest import REPO_ROOT

MEDIAPIPE_PYTHON = REPO_ROOT / ".venv-mediapipe" / "bin" / "python"
RUNNER = Path(__file__).with_name("mediapipe_runner.py")
PRECISIONS = ("fp32", "fp16", "int8", "int8_full")


@pytest.fixture(scope="session")
def mediapipe_python() -> Path:
    if not MEDIAPIPE_PYTHON.exists():
        pytest.skip(f"MediaPipe venv {MEDIAPIPE_PYTHON.parent.parent} is absent: run `make mediapipe`")
    probe = subprocess.run([str(MEDIAPIPE_PYTHON), "-c", "import mediapipe"], capture_output=True, timeout=120)
    if probe.returncode != 0:
        pytest.skip(f"mediapipe does not import in {MEDIAPIPE_PYTHON}: run `make mediapipe`")
    return MEDIAPIPE_PYTHON


def run_mediapipe(python: Path, jobs: list[dict]) -> list:
    proc = subprocess.run(
        [str(python), str(RUNNER)],
        input=json.dumps({"jobs": jobs}),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)["results"]


@pytest.fixture(scope="session")
def test_images(trained, tmp_path_factory: pytest.TempPathFactory):
    """The parity paintings (224 px, what the server's spec gives) and two 12 MP photos,
    written as PNG files for MediaPipe to read."""
    _, result = trained
    folder = tmp_path_factory.mktemp("mediapipe-images")
    paintings = read_sample_images(result.model_dir / "samples" / "parity.zip")[:8]
    photos = camera_photos(paintings, 2, seed=7)
    paths = []
    for i, img in enumerate(paintings):
        paths.append(folder / f"painting_{i}.png")
        img.save(paths[-1])
    photo_paths = []
    for i, img in enumerate(photos):
        photo_paths.append(folder / f"photo_{i}.png")
        img.save(photo_paths[-1], compress_level=1)
    return paintings, paths, photos, photo_paths


def test_every_tflite_file_carries_standard_metadata_and_its_labels(trained, exported):
    _, result = trained
    for key, path in exported.files.items():
        if not key.startswith("tflite_"):
            continue
        meta = read_metadata(path)
        assert meta["TFLITE_METADATA"][4:8] == b"M001", key  # the TFLite Support schema's identifier
        assert json.loads(meta[CARD_KEY])["version"] == result.version  # our card is still there
        with zipfile.ZipFile(path) as zf:  # the associated files, appended as the populator does
            assert zf.read("labels.txt").decode().splitlines() == result.labels
        from ai_edge_litert import schema_py_generated as schema

        assert b"MLIR Converted" not in schema.Model.GetRootAs(path.read_bytes(), 0).Description()


def test_mediapipe_reads_the_metadata_as_written(mediapipe_python, trained, exported):
    _, result = trained
    keys = ["tflite_fp16", "tflite_classifier_fp16", "tflite_embedder_int8_full"]
    got = dict(
        zip(
            keys, run_mediapipe(mediapipe_python, [{"model": str(exported.files[k]), "task": "metadata"} for k in keys])
        )
    )
    for key, meta in got.items():
        assert meta["identifier_ok"] and meta["min_parser_version"] == "1.0.0", key
        assert meta["license"] == "Apache-2.0" and meta["author"] == "artsnap" and meta["version"] == result.version
        (image,) = meta["inputs"]
        assert image["content"] == "ImagePropertiesT" and image["color_space"] == meta["rgb"]
        assert image["size"] == [224, 224]
        float_input = not key.endswith("int8_full")  # the uint8 file takes pixels: nothing to normalise
        assert image["normalization"] == ([{"mean": [127.0] * 3, "std": [128.0] * 3}] if float_input else [])
    two, one = got["tflite_fp16"]["outputs"], got["tflite_classifier_fp16"]["outputs"]
    assert sorted(o["name"] for o in two) == ["embedding", "probabilities"]
    assert [o["name"] for o in one] == ["probabilities"]
    labels = [{"name": "labels.txt", "type": got["tflite_fp16"]["axis_labels"]}]
    assert one[0]["associated_files"] == labels
    assert [o["name"] for o in got["tflite_embedder_int8_full"]["outputs"]] == ["embedding"]


def _reference(trained, images):
    """The server: ONNX Runtime through edge_models.classifier, on the spec's preprocessing."""
    _, result = trained
    return load_classifier(result.model_dir, device="cpu").run(images)


def test_image_classifier_labels_match_the_server(mediapipe_python, trained, exported, test_images):
    _, result = trained
    paintings, paths, _, _ = test_images
    server = _reference(trained, paintings)
    jobs = [
        {
            "model": str(exported.files[f"tflite_classifier_{p}"]),
            "task": "classifier",
            "images": [str(x) for x in paths],
        }
        for p in PRECISIONS
    ]
    results = run_mediapipe(mediapipe_python, jobs)
    spec = load_classifier(result.model_dir, device="cpu").config.spec
    for precision, per_image in zip(PRECISIONS, results):
        key = f"tflite_classifier_{precision}"
        # what this very file computes through LiteRT on the same pixels: MediaPipe must agree
        litert = run_tflite(exported.files[key], spec.to_batch(paintings).transpose(0, 2, 3, 1))["probabilities"]
        for i, heads in enumerate(per_image):
            assert [h["head"] for h in heads] == ["probabilities"]
            got = dict(heads[0]["categories"])
            assert set(got) == set(result.labels), precision  # labels from labels.txt, every one
            scores = np.array([got[label] for label in result.labels])
            assert np.abs(scores - litert[i]).max() <= 1e-4, (precision, scores, litert[i])
            if precision == "fp32":  # the fp32 file is the server, within the fp32 criterion
                assert np.abs(scores - server.probabilities[i]).max() <= 1e-4
                assert heads[0]["categories"][0][0] == result.labels[int(server.probabilities[i].argmax())]


def test_image_embedder_embeddings_match_the_server(mediapipe_python, trained, exported, test_images):
    paintings, paths, _, _ = test_images
    server = _reference(trained, paintings)
    jobs = [
        {"model": str(exported.files[f"tflite_embedder_{p}"]), "task": "embedder", "images": [str(x) for x in paths]}
        for p in PRECISIONS
    ]
    spec = load_classifier(trained[1].model_dir, device="cpu").config.spec
    for precision, per_image in zip(PRECISIONS, run_mediapipe(mediapipe_python, jobs)):
        # what this very file computes through LiteRT on the same pixels: MediaPipe must agree
        path = exported.files[f"tflite_embedder_{precision}"]
        litert = run_tflite(path, spec.to_batch(paintings).transpose(0, 2, 3, 1))["embedding"]
        for i, heads in enumerate(per_image):
            assert [h["head"] for h in heads] == ["embedding"]
            emb = np.asarray(heads[0]["embedding"])
            assert emb @ litert[i] / np.linalg.norm(emb) / np.linalg.norm(litert[i]) >= 0.99999, (precision, i)
            if precision == "fp32":  # and the fp32 file gives the server's vector
                assert emb @ server.embeddings[i] / np.linalg.norm(emb) >= 0.99999, i


def test_camera_photo_with_a_centre_region_of_interest_matches_the_server(
    mediapipe_python, trained, exported, test_images
):
    """A 12 MP photo with a centre-square region of interest (what the README tells apps to
    pass) gives the server's embedding; the whole frame, squashed to a square, does not."""
    _, result = trained
    _, _, photos, photo_paths = test_images
    server = _reference(trained, photos)
    model = str(exported.files["tflite_embedder_fp32"])
    roi, full = run_mediapipe(
        mediapipe_python,
        [
            {"model": model, "task": "embedder", "images": [str(p) for p in photo_paths], "roi": "centre"},
            {"model": model, "task": "embedder", "images": [str(p) for p in photo_paths]},
        ],
    )
    spec = load_classifier(result.model_dir, device="cpu").config.spec
    for i, photo in enumerate(photos):
        assert photo.size in ((4032, 3024), (3024, 4032))
        with_roi = np.asarray(roi[i][0]["embedding"])
        without = np.asarray(full[i][0]["embedding"])
        cos_roi = with_roi @ server.embeddings[i] / np.linalg.norm(with_roi)
        cos_full = without @ server.embeddings[i] / np.linalg.norm(without)
        assert cos_roi >= 0.999 and cos_roi > cos_full, (cos_roi, cos_full)
        # and the export's emulation of MediaPipe's crop-and-warp is what MediaPipe does
        emulated = run_tflite(
            exported.files["tflite_embedder_fp32"],
            ((shrink(photo, "mediapipe_roi_centre", spec)[None].astype(np.float32) - 127) / 128),
        )["embedding"][0]
        assert emulated @ with_roi / np.linalg.norm(with_roi) >= 0.9999
