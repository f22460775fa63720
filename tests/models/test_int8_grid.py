"""The backbone's weights sit on the int8 grid, so int8 export rounds nothing there; the
layers the registry names stay float."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edge_models.classifier_net import ClassifierNet
from edge_models.export_tflite import convert_fp32, load_interpreter, quantize_int8, run_tflite
from edge_models.head import LinearHead
from edge_models.int8_grid import LEVELS, off_grid_weights, snap_to_int8_grid
from tests.models.edge_support import TINY_DIM, TinyBackbone


def _random_convnet(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU6(), nn.Conv2d(8, 8, 3, groups=8), nn.Conv2d(8, 4, 1))


def test_snap_puts_every_convolution_on_its_channel_grid_and_is_idempotent():
    net = _random_convnet()
    before = [m.weight.clone() for m in net if isinstance(m, nn.Conv2d)]
    assert len(off_grid_weights(net)) == 3

    report = snap_to_int8_grid(net)
    assert report.convolutions == 3 and report.changed == 3
    assert 0 < report.max_relative_change <= 0.5 / LEVELS + 1e-6  # at most half a grid step
    assert off_grid_weights(net) == []
    for old, m in zip(before, (m for m in net if isinstance(m, nn.Conv2d))):
        scale = old.abs().amax(dim=(1, 2, 3)) / LEVELS
        steps = m.weight / scale[:, None, None, None]
        assert torch.allclose(steps, steps.round(), atol=1e-4)  # integers in [-127, 127]
        assert steps.abs().max() <= LEVELS + 1e-4

    again = snap_to_int8_grid(net)
    assert again.changed == 0


def test_product_backbone_loads_on_the_grid():
    from edge_models.backbone import load_efficientnet

    assert off_grid_weights(load_efficientnet()) == []


def _weight_only_int8(fp32: Path) -> bytes:
    """Round only the convolution weights to int8 (float activations): the weight error alone."""
    from ai_edge_quantizer import qtyping, quantizer

    q = quantizer.Quantizer(str(fp32))
    for op in (qtyping.TFLOperationName.CONV_2D, qtyping.TFLOperationName.DEPTHWISE_CONV_2D):
        q.add_weight_only_config(regex=".*", operation_name=op, num_bits=8)
    return bytes(q.quantize(enable_progress_report=False).quantized_model)


def test_int8_weight_rounding_is_exact_on_the_grid_and_not_off_it(tmp_path):
    """Same tiny net twice, through the real converter and quantiser: off the grid, int8
    weights move the embedding; on the grid they change nothing."""
    rng = np.random.default_rng(0)
    images = rng.standard_normal((6, 64, 64, 3)).astype(np.float32)
    diffs = {}
    for snapped in (False, True):
        backbone = TinyBackbone()
        with torch.no_grad():  # TinyBackbone snaps itself; nudge it off the grid for the control
            if not snapped:
                for m in backbone.modules():
                    if isinstance(m, nn.Conv2d):
                        m.weight.mul_(1 + 0.3 * torch.rand_like(m.weight))
        assert bool(off_grid_weights(backbone)) is not snapped
        net = ClassifierNet(backbone, LinearHead(TINY_DIM, 3), temperature=1.0, multi_label=False)
        fp32 = convert_fp32(net, tmp_path / f"net_{snapped}.tflite", input_size=64)
        ref = run_tflite(fp32, images)["embedding"]
        got = run_tflite(_weight_only_int8(fp32), images)["embedding"]
        diffs[snapped] = float(np.abs(got - ref).max())
    assert diffs[True] <= 1e-5, diffs
    assert diffs[False] > 10 * max(diffs[True], 1e-6), diffs


def _conv_weight_dtypes(path: Path) -> dict[str, str]:
    """Conv weight tensors (4-D constants) of a .tflite by layer (stem, block, top) → dtype."""
    out = {}
    for d in load_interpreter(path, threads=1).get_tensor_details():
        for layer in ("stem", "block", "top"):
            if len(d["shape"]) == 4 and d["shape"][0] > 3 and f"Sequential_{layer}/" in d["name"]:
                if "_dequant" not in d["name"]:
                    out.setdefault(layer, set()).add(d["dtype"].__name__)
    return {k: ",".join(sorted(v)) for k, v in out.items()}


def test_int8_keeps_the_named_layers_float_and_warns_when_the_name_matches_nothing(tmp_path, caplog):
    net = ClassifierNet(TinyBackbone(), LinearHead(TINY_DIM, 3), temperature=1.0, multi_label=False)
    fp32 = convert_fp32(net, tmp_path / "fp32.tflite", input_size=64)
    calib = np.random.default_rng(1).standard_normal((8, 64, 64, 3)).astype(np.float32)

    with caplog.at_level(logging.WARNING, logger="edge_models.export_tflite"):
        # anchored on the op's own (last) location, as the product backbone's regex is
        kept = quantize_int8(fp32, tmp_path / "kept.tflite", calib, float_regex=r"Sequential_stem/[^;]*;\d*;$")
    assert _conv_weight_dtypes(kept) == {"stem": "float32", "block": "int8", "top": "int8"}
    assert "matches the layers to keep float" not in caplog.text

    with caplog.at_level(logging.WARNING, logger="edge_models.export_tflite"):
        renamed = quantize_int8(fp32, tmp_path / "renamed.tflite", calib, float_regex=r".*_conv_stem.*")
    assert "matches the layers to keep float" in caplog.text
    assert _conv_weight_dtypes(renamed) == {"stem": "int8", "block": "int8", "top": "int8"}
