"""An int8 ONNX Runtime copy of the embedding network, for faster ingest (candidate).

Static quantisation with ONNX Runtime's own tool (``onnxruntime.quantization``): QDQ format,
weights int8 per output channel, activations uint8 with ranges calibrated on real catalogue
images. Per-channel weights matter for EfficientNet's depthwise convolutions, whose channels
have very different ranges; a per-tensor scale ruins them. The classification head
(``logits``) stays float: nothing here uses it, and quantising it would also round the pooled
embedding that feeds it to 8 bits.

**Why the run matters as much as the file.** On x86 CPUs without VNNI (AVX2 only, like this
project's machines) ONNX Runtime's uint8 × int8 kernels multiply with ``vpmaddubsw``, which adds
pairs of products into a *saturating* 16-bit sum: with activations and weights both using their
full 8-bit range the sum overflows and the network computes garbage in places (cosine to fp32
as low as 0.5 for some images). ORT's documented fixes are 7-bit weights (``reduce_range``),
uint8 weights (U8U8 kernels) or the session option ``session.x64quantprecision``, which keeps
the int8 file and runs the AVX2 kernels in a non-saturating mode. :class:`Int8Recipe` names
each choice; :data:`RECIPES` lists those measured (BENCHMARKS.md, int8 section) and
:func:`load_int8_model` applies a recipe's session options. On a VNNI CPU the fast kernels do
not saturate, so there the same file is both fast and close to fp32.

An int8 network computes a *different function*: its vectors must live in their own embedding
space (:mod:`backend.engine.embedding_space`), so a collection ingested with it is searched
with it, and a phone's fp32 vector is not compared with them. :data:`INT8_SPACE_NAME` names it;
``benchmarks/int8_embed.py`` measures its speed and what it costs in retrieval.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .model_card import ModelCard
    from .runtime import OnnxModel

__all__ = ["DEFAULT_RECIPE", "INT8_SPACE_NAME", "RECIPES", "Int8Recipe", "load_int8_model", "quantize_embedding_model"]

INT8_SPACE_NAME = "efficientnet-lite0-imagenet-int8"

#: Output heads nothing reads from the embedding network; left float (see the module docstring).
FLOAT_HEAD_OPS = ("Gemm",)


@dataclass(frozen=True)
class Int8Recipe:
    """How the int8 copy is quantised and run; every field is one of ORT's documented choices."""

    name: str
    description: str
    weights: str = "int8"  # "int8" (U8S8 kernels) or "uint8" (U8U8 kernels, never saturate, slow on AVX2)
    weights_7bit: bool = False  # ORT's reduce_range: weights in [-64, 63], no saturation, coarser weights
    precise_avx2: bool = False  # session.x64quantprecision: non-saturating AVX2 kernels for the same file
    calibration: str = "MinMax"  # onnxruntime.quantization.CalibrationMethod name

    def file_key(self) -> dict[str, object]:
        """What changes the file (session options do not)."""
        d = asdict(self)
        for k in ("name", "description", "precise_avx2"):
            d.pop(k)
        return d

    def session_config(self) -> dict[str, str]:
        return {"session.x64quantprecision": "1"} if self.precise_avx2 else {}


RECIPES: dict[str, Int8Recipe] = {
    r.name: r
    for r in (
        Int8Recipe("u8s8", "int8 weights, uint8 activations, fast AVX2 kernels (saturate)"),
        Int8Recipe("u8s8-precise", "the same file, non-saturating AVX2 kernels", precise_avx2=True),
        Int8Recipe("u8s8-7bit", "7-bit weights (reduce_range)", weights_7bit=True),
        Int8Recipe("u8u8", "uint8 weights (U8U8 kernels)", weights="uint8"),
    )
}

#: The most accurate of the recipes on AVX2 (BENCHMARKS.md int8 section has its speed and recall@10).
DEFAULT_RECIPE = RECIPES["u8s8-precise"]


def quantize_embedding_model(
    fp32: Path, out_dir: Path, calibration: np.ndarray, *, recipe: Int8Recipe = DEFAULT_RECIPE, batch: int = 16
) -> Path:
    """The int8 model for ``fp32`` calibrated on ``calibration`` (N, 3, S, S), cached by both and the recipe."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    calibration = np.ascontiguousarray(calibration, np.float32)
    h = hashlib.sha256(Path(fp32).name.encode() + calibration.tobytes())
    h.update(json.dumps({**recipe.file_key(), "float": FLOAT_HEAD_OPS}, sort_keys=True).encode())
    out = Path(out_dir) / f"{Path(fp32).stem}-int8-{h.hexdigest()[:12]}.onnx"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    input_name = "image"

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.start = 0

        def get_next(self) -> dict[str, np.ndarray] | None:
            if self.start >= len(calibration):
                return None
            chunk = calibration[self.start : self.start + batch]
            self.start += batch
            return {input_name: chunk}

    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        float_nodes = [n.name for n in onnx.load(str(pre)).graph.node if n.op_type in FLOAT_HEAD_OPS]
        part = Path(tmp) / "int8.onnx"
        quantize_static(
            str(pre),
            str(part),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            reduce_range=recipe.weights_7bit,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QUInt8 if recipe.weights == "uint8" else QuantType.QInt8,
            calibrate_method=CalibrationMethod[recipe.calibration],
            nodes_to_exclude=float_nodes,
        )
        os.replace(part, out)
    return out


def load_int8_model(path: Path, card: ModelCard, *, recipe: Int8Recipe = DEFAULT_RECIPE, threads: int = 0) -> OnnxModel:
    """The int8 file loaded with the session options its recipe needs (see the module docstring)."""
    from .runtime import OnnxModel

    return OnnxModel.load(path, card, threads=threads, config=recipe.session_config())
