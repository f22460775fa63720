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

Two more shapes of file come from the same conversion, for tools that expect one head:

* :func:`single_output` keeps one output (and the ops it needs): the classifier and embedder
  files MediaPipe Tasks' ``ImageClassifier`` and ``ImageEmbedder`` load (each reads *every*
  output as a head of its own kind);
* :func:`quantize_int8_full` makes a *full-integer* file, every op int8 and a uint8 image
  input that takes raw pixels (its quantisation is the card's normalisation) and uint8
  output: what phone NPUs run, and what MediaPipe Model Maker's int8 export gives.
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

__all__ = [
    "SIGNATURE",
    "convert_fp32",
    "quantize_fp16",
    "quantize_int8",
    "quantize_int8_full",
    "quantise_input",
    "run_tflite",
    "single_output",
]

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
    early, where the errors propagate through every later block; the late blocks hold most of
    the weights, so keeping the front float costs little file size. The recipe comparison
    (agreement, size and latency per choice of float blocks, and what was tried without gain)
    is in BENCHMARKS.md, "Design measurements".
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


def quantize_int8_full(fp32_path: Path, path: Path, representative: np.ndarray, *, mean: float, std: float) -> Path:
    """Full-integer int8 with a uint8 input and uint8 outputs, for NPU delegates.

    Every op the quantizer supports runs in int8 (``static_wi8_ai8``), the image input
    included. Its range is not calibrated but set to what pixels 0-255 become under the
    card's normalisation, so the uint8 input *is* the pixel: scale ``1/std``, zero point
    ``mean`` (only possible for one mean and std shared by the channels, which the check
    below enforces). Agreement with fp32 is lower than :func:`quantize_int8`'s (the
    high-resolution front is int8 too); the parity check measures it per file.
    """
    from ai_edge_quantizer import quantizer, recipe

    if len(representative) == 0:
        raise ValueError("int8 quantisation needs representative images")
    lo, hi = (0.0 - mean) / std, (255.0 - mean) / std
    if abs((hi - lo) / 255 - 1 / std) > 1e-9 or abs(round(mean) - mean) > 1e-9:
        raise ValueError(f"a uint8 pixel input needs an integer mean and std; got mean {mean}, std {std}")
    q = quantizer.Quantizer(str(fp32_path), recipe.static_wi8_ai8())
    data = [{INPUT_NAME: representative[i : i + 1].astype(np.float32)} for i in range(len(representative))]
    with _quiet():
        calibration = q.calibrate({SIGNATURE: data}, num_threads=os.cpu_count() or 1)
        inputs = [n for n in calibration if n.endswith(f"_{INPUT_NAME}")]
        for name in inputs:
            shape = np.shape(calibration[name]["min"])
            calibration[name] = {"min": np.full(shape, lo, np.float32), "max": np.full(shape, hi, np.float32)}
        result = q.quantize(calibration, enable_progress_report=False)
    _write(path, _uint8_interface(bytes(result.quantized_model)))
    return path


def single_output(model: bytes, output: str) -> bytes:
    """``model`` with only its signature output ``output``; ops that only fed the others are
    removed and their weights emptied."""
    from ai_edge_litert.tools import flatbuffer_utils

    obj = flatbuffer_utils.read_model_from_bytearray(bytearray(model))
    sg, sig = obj.subgraphs[0], obj.signatureDefs[0]
    keep = [t for t in sig.outputs if _str(t.name) == output]
    if not keep:
        raise ValueError(f"the model has no output {output!r}; it has {[_str(t.name) for t in sig.outputs]}")
    sg.outputs, sig.outputs = [keep[0].tensorIndex], keep
    needed, ops = {keep[0].tensorIndex}, []
    for op in reversed(sg.operators):
        if any(o in needed for o in op.outputs):
            ops.append(op)
            needed.update(i for i in op.inputs if i >= 0)
    sg.operators = ops[::-1]
    # Drop the tensors nothing uses any more (runtimes and the quantizer's calibration read
    # every tensor) and empty the buffers only they held.
    used = set(sg.inputs) | set(sg.outputs)
    for op in sg.operators:
        used.update(i for i in list(op.inputs) + list(op.outputs) + list(op.intermediates or []) if i >= 0)
    order = sorted(used)
    remap = {old: new for new, old in enumerate(order)}
    kept_buffers = {sg.tensors[i].buffer for i in order}
    for t in sg.tensors:
        if t.buffer not in kept_buffers and 0 < t.buffer < len(obj.buffers):
            obj.buffers[t.buffer].data = None
    sg.tensors = [sg.tensors[i] for i in order]
    for op in sg.operators:
        op.inputs = [remap[i] if i >= 0 else i for i in op.inputs]
        op.outputs = [remap[i] for i in op.outputs]
        if op.intermediates is not None:
            op.intermediates = [remap[i] for i in op.intermediates]
    sg.inputs = [remap[i] for i in sg.inputs]
    sg.outputs = [remap[i] for i in sg.outputs]
    for t in list(sig.inputs) + list(sig.outputs):
        t.tensorIndex = remap[t.tensorIndex]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(obj))


def _uint8_interface(model: bytes) -> bytes:
    """Make int8 model inputs and outputs uint8 (zero point + 128, same scale) with a QUANTIZE
    op at each, as the TFLite converter's ``inference_input_type=uint8`` does."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    obj = flatbuffer_utils.read_model_from_bytearray(bytearray(model))
    code = schema.BuiltinOperator.QUANTIZE
    found = [i for i, c in enumerate(obj.operatorCodes) if max(c.builtinCode, c.deprecatedBuiltinCode) == code]
    if found:
        qop = found[0]
    else:
        opcode = schema.OperatorCodeT()
        opcode.builtinCode, opcode.deprecatedBuiltinCode, opcode.version = code, code, 2
        obj.operatorCodes.append(opcode)
        qop = len(obj.operatorCodes) - 1
    sg = obj.subgraphs[0]

    def uint8_twin(index: int) -> int:
        t = sg.tensors[index]
        if t.type != schema.TensorType.INT8:
            raise ValueError(f"tensor {_str(t.name)} is not int8; cannot give it a uint8 interface")
        twin = schema.TensorT()
        twin.name, twin.shape, twin.type = t.name, t.shape, schema.TensorType.UINT8
        twin.shapeSignature = t.shapeSignature
        twin.buffer = 0
        twin.quantization = schema.QuantizationParametersT()
        twin.quantization.scale = list(t.quantization.scale)
        twin.quantization.zeroPoint = [int(z) + 128 for z in t.quantization.zeroPoint]
        t.name = _str(t.name) + "_int8"
        sg.tensors.append(twin)
        return len(sg.tensors) - 1

    def quantize_op(src: int, dst: int) -> object:
        op = schema.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = qop, [src], [dst]
        return op

    remap: dict[int, int] = {}
    for i in list(sg.inputs):
        remap[i] = uint8_twin(i)
        sg.operators.insert(0, quantize_op(remap[i], i))
    for i in list(sg.outputs):
        remap[i] = uint8_twin(i)
        sg.operators.append(quantize_op(i, remap[i]))
    sg.inputs = [remap[i] for i in sg.inputs]
    sg.outputs = [remap[i] for i in sg.outputs]
    for sig in obj.signatureDefs or []:
        for t in list(sig.inputs) + list(sig.outputs):
            t.tensorIndex = remap.get(t.tensorIndex, t.tensorIndex)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(obj))


def _str(name: str | bytes | None) -> str:
    return name.decode() if isinstance(name, bytes) else (name or "")


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
    """Run a classifier .tflite image by image (batch 1 models); returns stacked float outputs.

    ``batch_nhwc`` is the normalised float input. A quantised (uint8/int8) input is fed
    ``round(x / scale + zero_point)``, which for the full-integer file is the pixel itself;
    quantised outputs are dequantised."""
    interp = load_interpreter(path_or_bytes, threads=threads)
    runner = interp.get_signature_runner(SIGNATURE)
    detail = runner.get_input_details()[INPUT_NAME]
    out_details = runner.get_output_details()
    outs: dict[str, list[np.ndarray]] = {}
    for i in range(len(batch_nhwc)):
        x = np.ascontiguousarray(batch_nhwc[i : i + 1], dtype=np.float32)
        res = runner(**{INPUT_NAME: quantise_input(x, detail)})
        for k, v in res.items():
            outs.setdefault(k, []).append(_dequantise(np.array(v), out_details[k]))
    return {k: np.concatenate(v) for k, v in outs.items()}


def quantise_input(x: np.ndarray, detail: dict) -> np.ndarray:
    """The normalised float input as the file's input tensor wants it (see :func:`run_tflite`)."""
    dtype = np.dtype(detail["dtype"])
    if dtype == np.float32:
        return x
    scale, zero = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)


def _dequantise(v: np.ndarray, detail: dict) -> np.ndarray:
    if v.dtype == np.float32:
        return v
    scale, zero = detail["quantization"]
    return ((v.astype(np.float32) - zero) * scale).astype(np.float32)


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
