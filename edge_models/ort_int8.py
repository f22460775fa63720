"""An int8 ONNX Runtime copy of the embedding network, for faster ingest (candidate).

Static quantisation with ONNX Runtime's own tool (``onnxruntime.quantization``): QDQ format,
weights int8 per output channel, activations uint8 with ranges calibrated on real catalogue
images. Per-channel weights matter for EfficientNet's depthwise convolutions, whose channels
have very different ranges; a per-tensor scale ruins them.

An int8 network computes a *different function*: its vectors must live in their own embedding
space (:mod:`backend.engine.embedding_space`), so a collection ingested with it is searched
with it, and a phone's fp32 vector is not compared with them. :data:`INT8_SPACE_NAME` names it;
``benchmarks/int8_embed.py`` measures its speed and what it costs in retrieval.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["INT8_SPACE_NAME", "quantize_embedding_model"]

INT8_SPACE_NAME = "efficientnet-lite0-imagenet-int8"


def quantize_embedding_model(fp32: Path, out_dir: Path, calibration: np.ndarray, *, batch: int = 16) -> Path:
    """The int8 model for ``fp32`` calibrated on ``calibration`` (N, 3, S, S), cached by both."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    calibration = np.ascontiguousarray(calibration, np.float32)
    key = hashlib.sha256(Path(fp32).name.encode() + calibration.tobytes()).hexdigest()[:12]
    out = Path(out_dir) / f"{Path(fp32).stem}-int8-{key}.onnx"
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
        part = Path(tmp) / "int8.onnx"
        quantize_static(
            str(pre),
            str(part),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
        os.replace(part, out)
    return out
