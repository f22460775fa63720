"""Descriptors: functions from images to unit vectors, one FAISS index each.

``cnn`` is the EfficientNet-Lite0 embedding served by ONNX Runtime (what finds "the same
painting" and pictures of the same things); ``style`` is the Gram statistics of the same
network's mid-level feature maps (brushwork, texture, palette, whatever the picture shows);
``artstyle`` is the art-style embedding a curator trained on their own labelled collection
(``artsnap train-style``; present only while such a model is active); ``color`` is a cheap
HSV histogram that lets a caller ask for "this palette" through per-descriptor ``weights``.

``cnn``, ``style`` and ``artstyle`` all read the outputs of **one** ONNX run
(:class:`BackboneRunner`): :func:`describe_all` runs the network once per batch and hands its
outputs to each of them. Models load once, lazily, and say which model and version answered
(as immich's ML service does).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from edge_models.embedding_model import embedding_cache_key, ensure_embedding_model, layers_key
from edge_models.embedding_variants import DEFAULT_EMBEDDING_MODEL
from edge_models.runtime import OnnxModel
from edge_models.style_model import StyleModel
from edge_models.style_spec import STYLE_DIM

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


class BackboneRunner:
    """The embedding graph in ONNX Runtime, loaded once, lazily: one run yields every output."""

    def __init__(
        self, models_dir: Path, *, threads: int = 0, device: str = "auto", model: str = DEFAULT_EMBEDDING_MODEL
    ) -> None:
        self._models_dir = Path(models_dir)
        #: Which backbone embeds (:mod:`edge_models.embedding_variants`); one runner per model.
        self.model_name = model
        self._threads = threads
        self._device = device
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def model(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    path, card = ensure_embedding_model(self._models_dir, model=self.model_name)
                    self._model = OnnxModel.load(path, card, threads=self._threads, device=self._device)
        return self._model

    @property
    def version(self) -> str:
        return self._model.card.version if self._model is not None else embedding_cache_key(model=self.model_name)

    @property
    def space(self) -> str:
        """The embedding space of its vectors (what a phone's vector must declare)."""
        return model_space(self.model_name)

    def run(self, images: Sequence[Image.Image]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = self.model.run_images(list(images))
        return out


class _BackboneDescriptor:
    """A descriptor computed from the backbone's outputs (see :func:`describe_all`)."""

    name = ""
    dim = 0
    output = ""

    def __init__(self, backbone: BackboneRunner) -> None:
        self.backbone = backbone

    @property
    def version(self) -> str:
        return self.backbone.version

    def from_outputs(self, outputs: Mapping[str, np.ndarray]) -> np.ndarray:
        out: np.ndarray = outputs[self.output]
        return out

    def describe(self, images: Sequence[Image.Image]) -> np.ndarray:
        if not images:
            return np.zeros((0, self.dim), np.float32)
        return self.from_outputs(self.backbone.run(images))

    def info(self) -> dict[str, Any]:
        card = self.backbone.model.card
        return {
            "descriptor": self.name,
            "model": card.name,
            "version": card.version,
            "provider": self.backbone.model.provider,
        }


class CnnDescriptor(_BackboneDescriptor):
    name = "cnn"
    dim = 1280
    output = "embedding"

    def __init__(
        self,
        models_dir: Path,
        *,
        threads: int = 0,
        device: str = "auto",
        model: str = DEFAULT_EMBEDDING_MODEL,
        backbone: BackboneRunner | None = None,
    ) -> None:
        super().__init__(backbone or BackboneRunner(models_dir, threads=threads, device=device, model=model))

    @property
    def model(self) -> Any:
        return self.backbone.model

    @property
    def space(self) -> str:
        """The embedding space of its vectors (what a phone's vector must declare)."""
        return self.backbone.space

    @property
    def input_size(self) -> int:
        return int(self.model.card.preprocessing.input_size)

    def describe_with_logits(self, images: Sequence[Image.Image]) -> tuple[np.ndarray, np.ndarray]:
        out = self.backbone.run(images)
        return out["embedding"], out["logits"]


class StyleDescriptor(_BackboneDescriptor):
    """Gram statistics of mid-level feature maps, projected (see :mod:`edge_models.style_statistics`)."""

    name = "style"
    dim = STYLE_DIM
    output = "style"


class ArtStyleDescriptor(_BackboneDescriptor):
    """The curator-trained art-style embedding: a projection of the backbone's ``layers``."""

    name = "artstyle"
    output = "layers"

    def __init__(self, backbone: BackboneRunner, model: StyleModel) -> None:
        super().__init__(backbone)
        if model.embedding_model != layers_key():
            raise ValueError(
                f"style model {model.name} {model.version} was trained on another backbone's features "
                f"({model.embedding_model}, this server computes {layers_key()}); train it again with "
                "`artsnap train-style`"
            )
        self.model = model
        self.dim = model.projection.dim

    @property
    def version(self) -> str:
        return f"{self.model.name}:{self.model.version}@{self.backbone.version}"

    def from_outputs(self, outputs: Mapping[str, np.ndarray]) -> np.ndarray:
        return self.model.projection(outputs[self.output])

    def info(self) -> dict[str, Any]:
        return {**super().info(), "model": self.model.name, "version": self.model.version}


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

    Descriptors that read the backbone's outputs (``cnn``, ``style``, ``artstyle``) share one
    ONNX run per batch; a *derived* descriptor (one with a ``source``, e.g. ``code`` from
    ``cnn``) is computed from its source's vectors instead of running the network again.
    """
    wanted = list(descriptors) if names is None else [n for n in names if n in descriptors]
    runs: dict[int, Mapping[str, np.ndarray]] = {}

    def compute(name: str) -> np.ndarray:
        d: Any = descriptors[name]
        if isinstance(d, _BackboneDescriptor) and images:
            key = id(d.backbone)
            if key not in runs:
                runs[key] = d.backbone.run(images)
            return d.from_outputs(runs[key])
        out: np.ndarray = d.describe(images)
        return out

    out: dict[str, np.ndarray] = {}
    for name in wanted:
        source = getattr(descriptors[name], "source", None)
        if source is not None and source not in out:
            out[source] = compute(source)
    for name in wanted:
        if name in out:
            continue
        d: Any = descriptors[name]
        source = getattr(d, "source", None)
        out[name] = d.from_source(out[source]) if source is not None else compute(name)
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
    models_dir: Path,
    *,
    threads: int = 0,
    device: str = "auto",
    model: str = DEFAULT_EMBEDDING_MODEL,
    style_model: StyleModel | None = None,
) -> dict[str, Descriptor]:
    """The server's descriptors for embedding ``model``; ``style`` and ``artstyle`` only with
    the default backbone (the only graph with style outputs), ``artstyle`` only with a trained
    style model."""
    backbone = BackboneRunner(models_dir, threads=threads, device=device, model=model)
    out: dict[str, Descriptor] = {"cnn": CnnDescriptor(models_dir, backbone=backbone)}
    if model == DEFAULT_EMBEDDING_MODEL:
        out["style"] = StyleDescriptor(backbone)
    out["color"] = ColorDescriptor()
    if style_model is not None and model == DEFAULT_EMBEDDING_MODEL:
        out["artstyle"] = ArtStyleDescriptor(backbone, style_model)
    return out
