"""ClassifierNet → .tflite (fp32, fp16, int8) with ``litert-torch`` and ``ai-edge-quantizer``.

One conversion, three files: ``litert_torch.convert`` turns the torch module into an fp32
flatbuffer (~15–30 s for EfficientNet-Lite0 on 2 cores); the fp16 and int8 variants are
derived from that flatbuffer by ``ai-edge-quantizer`` (a second of work each) instead of two
more conversions:

* **fp16** — weights stored as float16, dequantised at load time (``float_casting``): half
  the size, fp32 arithmetic, so results within ~1e-3 of fp32;
* **int8** — static post-training quantisation of the backbone's convolutions, depthwise
  convolutions and residual adds (int8 weights per channel, int8 activations per tensor)
  calibrated on *representative data*: real training images, clean and phone-like, saved by
  training in ``samples/calibration.zip``. The weights are exact (the backbone keeps them on
  the int8 grid); the first layers stay float (see :func:`quantize_int8`). Input and output
  stay float32.

Input: ``image`` float32 (1, S, S, 3), NHWC, normalised by the card's preprocessing spec.
Outputs: ``probabilities`` (1, C) and ``embedding`` (1, D).
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from .classifier_net import ClassifierNet, NamedOutputs

log = logging.getLogger(__name__)

__all__ = ["SIGNATURE", "convert_fp32", "quantize_fp16", "quantize_int8", "run_tflite"]

SIGNATURE = "serving_default"
INPUT_NAME = "image"


def convert_fp32(net: ClassifierNet, path: Path, *, input_size: int) -> Path:
    """Convert with litert-torch (batch 1, NHWC input) and write ``path`` atomically."""
    import litert_torch

    module = NamedOutputs(net.eval()).eval()
    sample = torch.zeros(1, input_size, input_size, 3)
    with _quiet():
        edge = litert_torch.convert(module, sample_kwargs={INPUT_NAME: sample})
    tmp = _tmp_path(path)
    try:
        with _quiet():
            edge.export(str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def quantize_fp16(fp32_path: Path, path: Path) -> Path:
    """float16 weights (dequantised at load), float32 compute."""
    from ai_edge_quantizer import quantizer

    recipe = [{
        "regex": ".*",
        "operation": "*",
        "algorithm_key": "float_casting",
        "op_config": {
            "weight_tensor_config": {"num_bits": 16, "dtype": "FLOAT"},
            "compute_precision": "FLOAT",
            "explicit_dequantize": True,
        },
    }]
    q = quantizer.Quantizer(str(fp32_path), recipe)
    with _quiet():
        result = q.quantize(enable_progress_report=False)
    _write(path, bytes(result.quantized_model))
    return path


QUANTIZED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "ADD")


def quantize_int8(fp32_path: Path, path: Path, representative: np.ndarray, *, float_regex: str | None = None) -> Path:
    """Static int8 PTQ of the backbone calibrated on ``representative`` (N, S, S, 3) inputs.

    Convolutions, depthwise convolutions and residual adds run in int8: weights per channel
    (exact, because the backbone's weights already sit on the int8 grid, see
    :mod:`edge_models.int8_grid`), activations per tensor with ranges calibrated on real
    training images. Input and output stay float32, so every client feeds every variant the
    same tensor. What stays float, and why (WikiArt 7-style model, top-1 agreement with fp32
    on the 525 test paintings, none used for training or calibration):

    * the tail (pooling, L2 norm, head): an int8 unit-length embedding is not unit length and
      the head's standardisation amplifies its rounding;
    * ``float_regex`` (from the backbone's registry entry; for EfficientNet-Lite0 the stem and
      block 0, ~2 % of the MACs, which see the raw image): 95.4 % with them in int8, 98.3 %
      without.

    The weights' grid is what moved agreement from 94.9 % to 97-98 % (depending on the head
    trained): with the ImageNet weights as published, weight rounding alone (float
    activations) flipped 5 % of the paintings. The ~2-3 % left are near-ties: 1 % of the
    paintings have their top two probabilities within 0.005 of each other, and any
    activation rounding tips some of them. Tried without gain: keeping the five most
    sensitive blocks float (chosen on validation images), true min/max calibration, float
    residual adds, heads trained on int8 embeddings or on a PCA of the features.
    """
    from ai_edge_quantizer import algorithm_manager, qtyping, quantizer

    if len(representative) == 0:
        raise ValueError("int8 quantisation needs representative images")
    q = quantizer.Quantizer(str(fp32_path))
    for name in QUANTIZED_OPS:
        op = getattr(qtyping.TFLOperationName, name)
        q.add_static_config(regex=".*", operation_name=op, activation_num_bits=8, weight_num_bits=8)
        if float_regex:
            q.update_quantization_recipe(regex=float_regex, operation_name=op,
                                         algorithm_key=algorithm_manager.AlgorithmName.NO_QUANTIZE)
    data = [{INPUT_NAME: representative[i : i + 1].astype(np.float32)} for i in range(len(representative))]
    with _quiet():
        calibration = q.calibrate({SIGNATURE: data}, num_threads=os.cpu_count() or 1)
        result = q.quantize(calibration, enable_progress_report=False)
    _write(path, bytes(result.quantized_model))
    return path


def run_tflite(path_or_bytes: Path | bytes, batch_nhwc: np.ndarray, *, threads: int | None = None) -> dict[str, np.ndarray]:
    """Run a classifier .tflite image by image (batch 1 models); returns stacked outputs."""
    interp = load_interpreter(path_or_bytes, threads=threads)
    runner = interp.get_signature_runner(SIGNATURE)
    outs: dict[str, list[np.ndarray]] = {}
    for i in range(len(batch_nhwc)):
        res = runner(**{INPUT_NAME: np.ascontiguousarray(batch_nhwc[i : i + 1], dtype=np.float32)})
        for k, v in res.items():
            outs.setdefault(k, []).append(np.array(v))
    return {k: np.concatenate(v) for k, v in outs.items()}


def load_interpreter(path_or_bytes: Path | bytes, *, threads: int | None = None):
    from ai_edge_litert.interpreter import Interpreter

    threads = threads or os.cpu_count() or 1
    if isinstance(path_or_bytes, (bytes, bytearray)):
        return Interpreter(model_content=bytes(path_or_bytes), num_threads=threads)
    return Interpreter(model_path=str(path_or_bytes), num_threads=threads)


def _tmp_path(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    return Path(tmp)


def _write(path: Path, data: bytes) -> None:
    from .model_card import write_atomic

    write_atomic(path, data)


@contextlib.contextmanager
def _quiet():
    """The converters print progress lines and bars; keep the CLI's output readable.

    Only Python-level writes are captured; exceptions still propagate.
    """
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield
