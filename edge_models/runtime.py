"""ONNX Runtime sessions: the one place they are built, and the loaded embedding model.

Every session in the product (embedding, classifier, parity checks, benchmarks) comes from
:func:`make_session`, so they all follow the same rules:

* the CUDA execution provider when ``onnxruntime-gpu`` and a GPU are present (``device``
  ``"auto"``), the CPU one otherwise;
* ``threads`` intra-op threads (0: one per core), one inter-op thread;
* intra-op threads do not spin after a run: spinning burns the cores that decoding, the
  artwork locator and the other gunicorn worker need (see BENCHMARKS.md, thread settings).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .model_card import ModelCard

DEVICES = ("auto", "cpu", "cuda")


def providers(device: str = "auto") -> list[str]:
    """Execution providers for ``device``: CUDA first when asked for (or ``auto``) and available."""
    import onnxruntime as ort

    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, not {device!r}")
    available = ort.get_available_providers()
    if device == "cuda" and "CUDAExecutionProvider" not in available:
        raise RuntimeError(
            "device 'cuda' asked for, but this onnxruntime has no CUDA provider (install onnxruntime-gpu)"
        )
    cuda = ["CUDAExecutionProvider"] if device in ("auto", "cuda") and "CUDAExecutionProvider" in available else []
    return cuda + ["CPUExecutionProvider"]


def make_session(
    path: str | Path,
    *,
    threads: int = 0,
    device: str = "auto",
    spinning: bool = False,
    config: Mapping[str, str] | None = None,
) -> Any:
    """An ``onnxruntime.InferenceSession`` for ``path`` with the product's settings (see module doc).

    ``config``: extra session config entries a model file needs (an int8 recipe's kernels).
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads or (os.cpu_count() or 1)
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    for key, value in (config or {}).items():
        opts.add_session_config_entry(key, value)
    return ort.InferenceSession(str(path), sess_options=opts, providers=providers(device))


@dataclass
class OnnxModel:
    """A loaded ONNX model plus its card; ``run`` maps an input batch to a dict of outputs."""

    path: Path
    card: ModelCard
    session: Any

    @classmethod
    def load(
        cls,
        path: Path,
        card: ModelCard,
        *,
        threads: int = 0,
        device: str = "auto",
        config: Mapping[str, str] | None = None,
    ) -> OnnxModel:
        return cls(
            path=Path(path), card=card, session=make_session(path, threads=threads, device=device, config=config)
        )

    @property
    def provider(self) -> str:
        return str(self.session.get_providers()[0])

    def run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        sess = self.session
        name = sess.get_inputs()[0].name
        outs = sess.run(None, {name: np.ascontiguousarray(batch, dtype=np.float32)})
        return {o.name: v for o, v in zip(sess.get_outputs(), outs)}

    def run_images(self, images: list[Image.Image]) -> dict[str, np.ndarray]:
        """Preprocess with the card's spec (the single source of truth) and run."""
        return self.run(self.card.preprocessing.to_batch(images))
