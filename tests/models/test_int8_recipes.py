"""Two int8 recipes, each labelled for what it is for, and an export that can refuse a shortfall.

* ``tflite_int8``: mixed precision (float input and output, float front and tail), the best
  int8 agreement, for CPU and GPU delegates;
* ``tflite_classifier_int8_full`` / ``tflite_embedder_int8_full``: every op int8, uint8 pixels
  in and uint8 out, for NPUs (as MediaPipe Model Maker's int8 export), agreement measured.

A file below its agreement target is reported loudly; ``--strict`` makes that a failure.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from edge_models.export_tflite import load_interpreter, run_tflite
from edge_models.model_card import ModelCard
from edge_models.model_dir import read_sample_images


@pytest.mark.parametrize("head", ["classifier", "embedder"])
def test_full_integer_file_takes_pixels_and_runs_int8_throughout(trained, exported, head):
    _, result = trained
    path = exported.files[f"tflite_{head}_int8_full"]
    interp = load_interpreter(path, threads=1)
    (inp,) = interp.get_input_details()
    (out,) = interp.get_output_details()
    assert inp["dtype"] == np.uint8 and out["dtype"] == np.uint8
    assert inp["quantization"] == (pytest.approx(1 / 128), 127)  # the uint8 input *is* the pixel
    # every tensor between input and output is integer: nothing falls back to float on an NPU
    float_tensors = [
        d["name"] for d in interp.get_tensor_details() if d["dtype"] == np.float32 and len(d["shape"]) >= 2
    ]
    assert float_tensors == [], float_tensors[:5]

    # fed raw pixels by hand, it answers what the parity check measured (not garbage)
    interp.allocate_tensors()
    images = read_sample_images(result.model_dir / "samples" / "parity.zip")[:4]
    spec = ModelCard.load(exported.card_path).preprocessing
    for img in images:
        interp.set_tensor(inp["index"], np.asarray(spec.resize_and_crop(img), np.uint8)[None])
        interp.invoke()
        scale, zero = out["quantization"]
        raw = (interp.get_tensor(out["index"]).astype(np.float32) - zero) * scale
        via_float = run_tflite(path, spec.to_batch([img]).transpose(0, 2, 3, 1))
        assert np.array_equal(raw, next(iter(via_float.values())))


def test_card_labels_each_int8_file_and_reports_its_agreement(exported):
    card = json.loads(exported.card_path.read_text())
    mixed, full = card["deliveries"]["tflite_int8"], card["deliveries"]["tflite_classifier_int8_full"]
    assert mixed["precision"] == "int8" and "CPU" in mixed["purpose"] and "GPU" in mixed["purpose"]
    assert full["precision"] == "int8_full" and "NPU" in full["purpose"] and "uint8" in full["input"]
    formats = card["metrics"]["parity"]["formats"]
    for key in ("tflite_int8", "tflite_classifier_int8_full", "tflite_embedder_int8_full"):
        assert formats[key]["n"] > 0 and 0 <= formats[key]["top1_agreement"] <= 1
    assert formats["tflite_classifier_int8_full"]["criterion"] == "top-1 agreement >= 95%"
    assert formats["tflite_int8"]["criterion"] == "top-1 agreement >= 98%"
    # every file says what it is for, and the keys phones already use still name the same files
    assert set(card["deliveries"]) == set(card["files"])
    for entry in card["deliveries"].values():
        assert {"platform", "format", "precision", "min_runtime", "purpose", "outputs"} <= set(entry)
    assert card["files"]["tflite_int8"] == "classifier_int8.tflite"
    assert card["files"]["coreml_int8"] == "classifier_int8.mlpackage.zip"


def test_strict_export_fails_below_target_and_does_not_register(trained, tmp_path, capsys):
    """The tiny test network is far from int8-friendly: its full-integer file is well below
    its 95 % target, so a plain export warns (exit 0) and a --strict one fails (exit 1)."""
    from backend.cli import main
    from tests.models.edge_support import register_tiny_backbone

    register_tiny_backbone()
    _, result = trained
    model_dir = tmp_path / "model"
    shutil.copytree(result.model_dir, model_dir, ignore=shutil.ignore_patterns("*.tflite", "*.onnx", "*.mlpackage*"))
    args = ["--data-dir", str(tmp_path / "data"), "export-classifier", str(model_dir), "--quiet"]
    args += ["--formats", "tflite", "--quantize", "fp32,int8_full"]

    assert main(args) == 0
    err = capsys.readouterr().err
    assert "tflite_classifier_int8_full" in err and "below the agreement target" in err

    assert main([*args, "--strict", "--register"]) == 1
    err = capsys.readouterr().err
    assert "below the agreement target — failing (--strict)" in err and "registered" not in err
