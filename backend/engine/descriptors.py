"""Descriptors: functions from images to unit vectors, one FAISS index each.

``cnn`` is the EfficientNet-Lite0 embedding served by ONNX Runtime (what finds "the same
painting" and "the same style"); ``color`` is a cheap HSV histogram that lets a caller ask
for "this palette" through per-descriptor ``weights``. Models load once, lazily, and say
which model and version answered (as immich's ML service does).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from edge_models.embedding_model import embedding_cache_key, ensure_embedding_model
from edge_models.embedding_variants import DEFAULT_EMBEDDING_MODEL
from edge_models.runtime import OnnxModel

from .embedding_space import model_space


class Descriptor(Protocol):
    name: str
    dim: int

    @property
    def version(self) -> str: ...

    def describe(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(N, dim) float32, each row L2-normalised."""
        ...

    def info(self) -> dict[str, Any]: ...


class CnnDescriptor:
    name = "cnn"
    dim = 1280

    def __init__(
        self, models_dir: Path, *, threads: int = 0, device: str = "auto", model: str = DEFAULT_EMBEDDING_MODEL
    ) -> None:
        self._models_dir = Path(models_dir)
        #: Which backbone embeds (:mod:`edge_models.embedding_variants`); one per descriptor object.
        self.backbone = model
        self._threads = threads
        self._device = device
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def model(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    path, card = ensure_embedding_model(self._models_dir, model=self.backbone)
                    self._model = OnnxModel.load(path, card, threads=self._threads, device=self._device)
        return self._model

    @property
    def version(self) -> str:
        return self._model.card.version if self._model is not None else embedding_cache_key(model=self.backbone)

    @property
    def space(self) -> str:
        """The embedding space of its vectors (what a phone's vector must declare)."""
        return model_space(self.backbone)

    @property
    def input_size(self) -> int:
        return int(self.model.card.preprocessing.input_size)

    def describe(self, images: Sequence[Image.Image]) -> np.ndarray:
        if not images:
            return np.zeros((0, self.dim), np.float32)
        out: np.ndarray = self.model.run_images(list(images))["embedding"]
        return out

    def describe_with_logits(self, images: Sequence[Image.Image]) -> tuple[np.ndarray, np.ndarray]:
        out = self.model.run_images(list(images))
        return out["embedding"], out["logits"]

    def info(self) -> dict[str, Any]:
        card = self.model.card
        return {"descriptor": self.name, "model": card.name, "version": card.version, "provider": self.model.provider}


class ColorDescriptor:
    """Joint HSV histogram (8 hue × 4 saturation × 4 value), Hellinger-mapped (sqrt) and unit norm.

    Square-rooting makes inner product the Bhattacharyya coefficient, which compares
    histograms far better than raw dot products.
    """

    name = "color"
    bins = (8, 4, 4)
    dim = 8 * 4 * 4

    @property
    def version(self) -> str:
        return "hsv-8x4x4-v2"

    def describe(self, images: Sequence[Image.Image]) -> np.ndarray:
        import cv2

        out = np.zeros((len(images), self.dim), np.float32)
        for row, img in enumerate(images):
            small = cv2.resize(np.asarray(img.convert("RGB")), (64, 64), interpolation=cv2.INTER_AREA)
            hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV_FULL)  # H, S, V all on 0..255
            hist = cv2.calcHist([hsv], [0, 1, 2], None, list(self.bins), [0, 256, 0, 256, 0, 256]).reshape(-1)
            hist = np.sqrt(hist / max(float(hist.sum()), 1.0))
            out[row] = hist / max(float(np.linalg.norm(hist)), 1e-12)
        return out

    def info(self) -> dict[str, Any]:
        return {"descriptor": self.name, "model": "hsv-histogram", "version": self.version, "provider": "numpy"}


def describe_all(
    descriptors: Mapping[str, Descriptor], images: Sequence[Image.Image], names: Iterable[str] | None = None
) -> dict[str, np.ndarray]:
    """Vectors of ``images`` for ``names`` (default: every descriptor), each computed once.

    A *derived* descriptor (one with a ``source``, e.g. ``code`` from ``cnn``) is computed
    from its source's vectors instead of running the network again.
    """
    wanted = list(descriptors) if names is None else [n for n in names if n in descriptors]
    out: dict[str, np.ndarray] = {}
    for name in wanted:
        source = getattr(descriptors[name], "source", None)
        if source is not None and source not in out:
            out[source] = descriptors[source].describe(images)
    for name in wanted:
        if name in out:
            continue
        d: Any = descriptors[name]
        source = getattr(d, "source", None)
        out[name] = d.from_source(out[source]) if source is not None else d.describe(images)
    return {name: out[name] for name in wanted}


def derive_missing(
    descriptors: Mapping[str, Descriptor], vectors: Mapping[str, np.ndarray], names: Iterable[str]
) -> dict[str, np.ndarray]:
    """``vectors`` plus the derived descriptors among ``names`` whose source vector is given
    (a phone sends its ``cnn`` embedding; the server computes the ``code`` from it)."""
    out = dict(vectors)
    for name in names:
        d: Any = descriptors.get(name)
        source = getattr(d, "source", None)
        if name not in out and source is not None and source in out:
            out[name] = d.from_source(np.atleast_2d(out[source]))
    return out


def build_descriptors(
    models_dir: Path, *, threads: int = 0, device: str = "auto", model: str = DEFAULT_EMBEDDING_MODEL
) -> dict[str, Descriptor]:
    return {"cnn": CnnDescriptor(models_dir, threads=threads, device=device, model=model), "color": ColorDescriptor()}
