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
import re
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

    recipe = [
        {
            "regex": ".*",
            "operation": "*",
            "algorithm_key": "float_casting",
            "op_config": {
                "weight_tensor_config": {"num_bits": 16, "dtype": "FLOAT"},
                "compute_precision": "FLOAT",
                "explicit_dequantize": True,
            },
        }
    ]
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
    same tensor. What stays float, and why:

    * the tail (pooling, L2 norm, head): an int8 unit-length embedding is not unit length and
      the head's standardisation amplifies its rounding;
    * ``float_regex`` (from the backbone's registry entry). For EfficientNet-Lite0 that is the
      stem and blocks 0-8, the high-resolution front (112 to 14 px, ~46 % of the MACs but
      ~10 % of the weights, so the file grows by 0.9 MB only).

    Why the front. With weights exact, only activation rounding is left, and it matters most
    early, where the errors propagate through every later block. Measured on the WikiArt
    7-style model against fp32, top-1 agreement over 2 700 images none of which trained the
    head or calibrated (525 test and 525 validation paintings, a simulated phone photo of each
    of those, 600 CIFAR-10 photos), with single-thread latency relative to fp32:

    ================================  =========  =======  ========
    kept float                        agreement  size     latency
    ================================  =========  =======  ========
    stem, block 0                     97.5 %     4.1 MB   0.59x
    stem, blocks 0-4 (>= 28 px)       98.0 %     4.2 MB   0.67x
    stem, blocks 0-6                  98.1 %     4.5 MB   0.69x
    stem, blocks 0-8 (the default)    98.6 %     5.0 MB   0.73x
    nothing float, int16 activations  99.4 %     4.2 MB   ~28x (reference kernels)
    fp16 file, for comparison                    6.9 MB   1.0x
    ================================  =========  =======  ========

    Per subset the default gave 98.1-99.2 %. The flip counts are small (38 of 2 700), so one
    recipe beating a neighbour by a few flips is noise; the embedding's cosine to fp32 rises
    steadily with every block kept float (0.99874 → 0.99940 on the test paintings). The rest
    are near-ties (1 % of the paintings have their two most likely styles within 0.005 of
    each other), tipped by rounding in the later blocks; int16 activations there help little
    and run on slow reference kernels. The weights' grid is what moved agreement from 94.9 %
    to 97.5 %: with the ImageNet weights as published, weight rounding alone flipped 5 % of
    the paintings. Tried without gain: keeping the late, weight-heavy blocks float, true
    min/max calibration, MSE-optimal activation clipping (kept every calibrated range), float
    residual adds, heads trained on int8 embeddings or on a PCA of the features, bias
    correction (the mean shift is 2-6 % of the error).
    """
    from ai_edge_quantizer import algorithm_manager, qtyping, quantizer

    if len(representative) == 0:
        raise ValueError("int8 quantisation needs representative images")
    if float_regex and not _scope_matches(fp32_path, float_regex):
        log.warning(
            "int8: no tensor in %s matches the layers to keep float (%s); every layer will be "
            "int8 and agree less with fp32",
            fp32_path.name,
            float_regex,
        )
    q = quantizer.Quantizer(str(fp32_path))
    for name in QUANTIZED_OPS:
        op = getattr(qtyping.TFLOperationName, name)
        q.add_static_config(regex=".*", operation_name=op, activation_num_bits=8, weight_num_bits=8)
        if float_regex:
            q.update_quantization_recipe(
                regex=float_regex, operation_name=op, algorithm_key=algorithm_manager.AlgorithmName.NO_QUANTIZE
            )
    data = [{INPUT_NAME: representative[i : i + 1].astype(np.float32)} for i in range(len(representative))]
    with _quiet():
        calibration = q.calibrate({SIGNATURE: data}, num_threads=os.cpu_count() or 1)
        result = q.quantize(calibration, enable_progress_report=False)
    _write(path, bytes(result.quantized_model))
    return path


def _scope_matches(path: Path, regex: str) -> bool:
    """Whether any op's scope matches ``regex`` as ai-edge-quantizer matches recipes (re.search
    over the op's output tensor names, each followed by ";"): the registry's regex names
    converter-made names, which a converter upgrade can change."""
    from ai_edge_quantizer.utils import tfl_flatbuffer_utils as tfl

    model = tfl.read_model(str(path))
    pattern = re.compile(regex)
    return any(pattern.search(tfl.get_op_scope(op, sg.tensors)) for sg in model.subgraphs for op in sg.operators)


def run_tflite(
    path_or_bytes: Path | bytes, batch_nhwc: np.ndarray, *, threads: int | None = None
) -> dict[str, np.ndarray]:
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
