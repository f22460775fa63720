"""ONNX Runtime sessions for the exported models: load once, run batches.

Picks the CUDA execution provider when onnxruntime-gpu and a GPU are present, the CPU one
otherwise. Thread count follows the machine (both cores here), since an image embedding is
one big matrix pipeline that scales with cores.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .model_card import ModelCard


def _providers() -> list[str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    wanted = [p for p in ("CUDAExecutionProvider",) if p in available]
    return wanted + ["CPUExecutionProvider"]


@dataclass
class OnnxModel:
    """A loaded ONNX model plus its card; ``run`` maps input batch → dict of outputs."""

    path: Path
    card: ModelCard
    session: object

    @classmethod
    def load(cls, path: Path, card: ModelCard, *, threads: int | None = None) -> "OnnxModel":
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = threads or int(os.environ.get("ARTSNAP_THREADS", 0)) or (os.cpu_count() or 1)
        opts.inter_op_num_threads = 1
        # Spinning worker threads burn the cores that decoding, the locator and the other
        # gunicorn worker need; measured 0.73x search latency with spinning off on 2 cores.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        sess = ort.InferenceSession(str(path), sess_options=opts, providers=_providers())
        return cls(path=Path(path), card=card, session=sess)

    @property
    def provider(self) -> str:
        return self.session.get_providers()[0]  # type: ignore[attr-defined]

    def run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        sess = self.session
        name = sess.get_inputs()[0].name  # type: ignore[attr-defined]
        outs = sess.run(None, {name: np.ascontiguousarray(batch, dtype=np.float32)})  # type: ignore[attr-defined]
        return {o.name: v for o, v in zip(sess.get_outputs(), outs)}  # type: ignore[attr-defined]

    def run_images(self, images: list[Image.Image]) -> dict[str, np.ndarray]:
        """Preprocess with the card's spec (the single source of truth) and run."""
        return self.run(self.card.preprocessing.to_batch(images))
