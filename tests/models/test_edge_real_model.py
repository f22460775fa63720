"""Parity of the real exported EfficientNet-Lite0 classifier on real images (slow: minutes).

On WikiArt paintings when ../shared has them, on generated images otherwise. Criteria from
issue 3: TFLite fp32 and ONNX within 1e-4 of torch on probabilities with identical top-1;
TFLite int8 top-1 agreement >= 98 %; the Core ML packages carry the right inputs, outputs,
labels and metadata.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from benchmarks.classifier_runs import held_out_images
from dataset_tools.synthetic_styles import write_style_folder
from edge_models.export import export_models
from edge_models.export_tflite import load_interpreter
from edge_models.model_dir import read_sample_images
from edge_models.parity import compare_formats
from edge_models.train import TrainingOptions, train_classifier
from edge_models.trained import load_trained
from tests.conftest import SHARED_DIR

pytestmark = pytest.mark.slow

WIKIART = SHARED_DIR / "datasets" / "wikiart-styles-3500.zip"


@pytest.fixture(scope="module")
def real_export(tmp_path_factory: pytest.TempPathFactory):
    """The benchmark model of issue 3: all 7 WikiArt styles (~350 paintings each), as
    ``make bench`` trains it; generated images when ../shared is absent."""
    root = tmp_path_factory.mktemp("real")
    source = WIKIART if WIKIART.is_file() else write_style_folder(root / "src", per_class=40, size=160, seed=5).root
    result = train_classifier(
        source, root / "model", TrainingOptions(cache_dir=root / "cache", progress=False, aug_views=1)
    )
    exported = export_models(result.model_dir, progress=False)
    unseen = held_out_images(WIKIART, result.model_dir) if WIKIART.is_file() else []
    return result, exported, unseen


def test_fp32_tflite_and_onnx_match_torch(real_export):
    _, exported, _ = real_export
    for fmt in ("onnx", "tflite_fp32"):
        p = exported.parity.formats[fmt]
        assert p.n >= 15
        assert p.max_abs_diff_probabilities <= 1e-4, p
        assert p.top1_agreement == 1.0, p


def test_fp16_keeps_top1_on_the_export_parity_sample(real_export):
    _, exported, _ = real_export
    assert exported.parity.formats["tflite_fp16"].top1_agreement >= 0.98


def test_int8_keeps_top1_on_generated_images(real_export):
    _, exported, unseen = real_export
    if unseen:
        pytest.skip("trained on WikiArt: the 98 % criterion is checked on its ~525 test paintings instead")
    # Weights on the int8 grid (edge_models.int8_grid) and the high-resolution front kept float
    # (the backbone's int8_float_regex) leave only activation rounding in the later blocks:
    # 98.6 % over 2 700 unseen images when measured (94.9 % with the weights as published).
    parity = exported.parity.formats["tflite_int8"]
    assert parity.top1_agreement >= 0.98, parity


def test_int8_keeps_top1_on_every_held_out_wikiart_painting(real_export, wikiart_zip):
    """The whole test split (~525 paintings), as filed (the export checks JPEG re-encodes).
    Skips with a reason when ../shared has no WikiArt (the model is then trained on generated
    images, whose test split is not the filed criterion)."""
    result, exported, unseen = real_export
    assert unseen, f"{wikiart_zip} is present but the model was not trained on it"
    trained = load_trained(result.model_dir)
    files = {k: exported.files[k] for k in ("tflite_fp32", "tflite_int8")}
    checked = compare_formats(trained.net, files, unseen, trained.config)
    assert checked["tflite_fp32"].passed, checked["tflite_fp32"]
    parity = checked["tflite_int8"]
    assert parity.n >= 500
    assert parity.top1_agreement >= 0.98, parity


def test_int8_file_keeps_the_front_blocks_float_and_the_rest_int8(real_export):
    """Whatever it was trained on, the real backbone's int8 file has blocks 0-8 float (the
    backbone's int8_float_regex) and blocks 9-15 int8."""
    _, exported, _ = real_export
    names = {
        d["name"]: d["dtype"].__name__
        for d in load_interpreter(exported.files["tflite_int8"], threads=1).get_tensor_details()
        if len(d["shape"]) == 4 and "_dequant" not in d["name"]
    }
    float_blocks = {
        int(m.group(1))
        for n, t in names.items()
        if t == "float32"
        for m in [re.search(r"MBConvBlock_(\d+)/[^;]*;$", n)]
        if m
    }
    int8_blocks = {
        int(m.group(1))
        for n, t in names.items()
        if t == "int8"
        for m in [re.search(r"MBConvBlock_(\d+)/[^;]*;$", n)]
        if m
    }
    assert set(range(9)) <= float_blocks and set(range(9, 16)) <= int8_blocks, (float_blocks, int8_blocks)


def test_coreml_packages_are_right(real_export):
    result, exported, _ = real_export
    for key in ("coreml_fp16", "coreml_int8"):
        check = exported.parity.coreml[key]
        assert check.passed, (key, check.problems)
        assert check.summary["class_labels"] == result.labels
        assert check.summary["outputs"][-1]["shape"][-1] == 1280 or any(
            o["name"] == "embedding" and o["shape"][-1] == 1280 for o in check.summary["outputs"]
        )
    # the int8 weights really are smaller
    assert exported.sizes["coreml_int8"] < 0.7 * exported.sizes["coreml_fp16"]
    assert exported.sizes["tflite_int8"] < 0.5 * exported.sizes["tflite_fp32"]


def test_server_classifier_agrees_with_torch(real_export):
    from edge_models.classifier import load_classifier

    result, _, _ = real_export
    images = read_sample_images(result.model_dir / "samples" / "parity.zip")[:16]
    clf = load_classifier(result.model_dir)
    out = clf.run(images)
    trained = load_trained(result.model_dir)
    import torch

    with torch.no_grad():
        ref, emb = trained.net(torch.from_numpy(trained.config.spec.to_batch(images)))
    assert np.abs(out.probabilities - ref.numpy()).max() <= 1e-4
    assert np.abs(out.embeddings - emb.numpy()).max() <= 1e-4
