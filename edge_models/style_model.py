"""A trained style model on disk: the art-style embedding, the image-type model and its weights.

``artsnap train-style SOURCE --out DIR`` (:mod:`edge_models.style_training`) writes one of
these; the server loads it with numpy alone (serving never imports torch). Three parts, all
trained on the curator's own labelled collection:

* :class:`ArtStyleProjection` — the art-style embedding: the backbone's multi-layer
  statistics (the embedding graph's ``layers`` output), reduced by a PCA fitted on the
  collection, standardised, and mapped by a small network trained with a supervised
  contrastive loss so that pictures of one style land close together;
* :class:`TypeModel` — the "fourth model": what kind of picture a query is (a painting scan,
  a camera photo of an artwork, a drawing or print, a photograph), a softmax regression on
  descriptor vectors the index keeps, so a catalogue item's type is known from its stored
  vectors;
* per-type descriptor weights, chosen on validation data, and the best single weighting
  (``fixed_weights``, chosen on the validation split by ``train-style``).

``train-style`` writes all three (``--no-types`` leaves the type model out: ``types`` is None
and every query gets the fixed weights); :mod:`edge_models.type_training` says how the type
model and its per-type weights are learnt.

Files: ``style_model.json`` (names, sizes, weights, metrics) and ``style_model.npz`` (the
arrays), plus a ``model_card.json`` so ``artsnap models register`` stores and activates it
like any other model.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .model_card import write_atomic

__all__ = [
    "STYLE_MODEL_JSON",
    "STYLE_MODEL_NPZ",
    "STYLE_TASK",
    "TYPE_NAMES",
    "ArtStyleProjection",
    "Segment",
    "StyleModel",
    "TypeModel",
    "load_style_model",
]

STYLE_MODEL_JSON = "style_model.json"
STYLE_MODEL_NPZ = "style_model.npz"
#: The registry task of a style model (a classifier's is "classification").
STYLE_TASK = "style"
FORMAT_VERSION = 1

#: Kinds of picture, in the words ``reasons`` use. Which ones a model knows depends on the
#: data it was trained with (a photograph class needs photographs).
TYPE_NAMES = {
    "scan": "a painting scan",
    "camera_photo": "a camera photo of an artwork",
    "drawing": "a drawing or print",
    "photograph": "a photograph (not art)",
    "object": "a sculpture or object",
}


@dataclass(frozen=True)
class Segment:
    """Columns ``[start, stop)`` of the input, optionally projected: ``(x - mean) @ components.T``."""

    start: int
    stop: int
    mean: np.ndarray | None = None
    components: np.ndarray | None = None  # (k, stop - start)

    @property
    def out_dim(self) -> int:
        return int(self.components.shape[0]) if self.components is not None else self.stop - self.start

    def __call__(self, x: np.ndarray) -> np.ndarray:
        part = x[:, self.start : self.stop]
        if self.components is None:
            return part
        assert self.mean is not None
        out: np.ndarray = (part - self.mean) @ self.components.T
        return out


@dataclass
class ArtStyleProjection:
    """``normalize(relu(z @ w1 + b1) @ w2 + b2)`` with ``z`` the standardised, projected input.

    ``w1`` may be absent (a linear projection). Float32 throughout; a few MFLOP per image.
    """

    segments: list[Segment]
    mean: np.ndarray
    std: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    w1: np.ndarray | None = None
    b1: np.ndarray | None = None

    @property
    def in_dim(self) -> int:
        return max(s.stop for s in self.segments)

    @property
    def dim(self) -> int:
        return int(self.w2.shape[1])

    def reduce(self, x: np.ndarray) -> np.ndarray:
        """The standardised, projected input (what the network and the PCA see)."""
        x = np.asarray(x, np.float32)
        z = np.concatenate([s(x) for s in self.segments], axis=1)
        out: np.ndarray = (z - self.mean) / self.std
        return out

    def __call__(self, x: np.ndarray) -> np.ndarray:
        h = self.reduce(x)
        if self.w1 is not None:
            assert self.b1 is not None
            h = np.maximum(h @ self.w1 + self.b1, 0.0)
        out = h @ self.w2 + self.b2
        norm = np.linalg.norm(out, axis=1, keepdims=True)
        result: np.ndarray = (out / np.maximum(norm, 1e-12)).astype(np.float32)
        return result


@dataclass
class TypeModel:
    """Softmax regression from descriptor vectors (concatenated in ``inputs`` order) to types."""

    types: list[str]
    inputs: list[str]
    mean: np.ndarray
    std: np.ndarray
    w: np.ndarray  # (features, types)
    b: np.ndarray  # (types,)

    def features(self, vectors: Mapping[str, np.ndarray]) -> np.ndarray:
        missing = [n for n in self.inputs if n not in vectors]
        if missing:
            raise KeyError(f"the image-type model needs the {', '.join(missing)} vector(s)")
        x = np.concatenate([np.atleast_2d(np.asarray(vectors[n], np.float32)) for n in self.inputs], axis=1)
        out: np.ndarray = (x - self.mean) / self.std
        return out

    def probabilities(self, vectors: Mapping[str, np.ndarray]) -> np.ndarray:
        """(N, types) probabilities for N pictures (one row of each input vector per picture)."""
        logits = self.features(vectors) @ self.w + self.b
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        out: np.ndarray = p / p.sum(axis=1, keepdims=True)
        return out


@dataclass
class StyleModel:
    """Everything ``train-style`` learnt; see the module docstring."""

    name: str
    version: str
    labels: list[str]
    embedding_model: str  # the embedding graph's version whose ``layers`` it was trained on
    projection: ArtStyleProjection
    types: TypeModel | None = None
    type_weights: dict[str, dict[str, float]] = field(default_factory=dict)
    fixed_weights: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def weights_for(self, probabilities: np.ndarray) -> dict[str, float]:
        """Descriptor weights for one picture: the per-type weights mixed by its type probabilities."""
        if self.types is None or not self.type_weights:
            return dict(self.fixed_weights)
        mixed: dict[str, float] = {}
        for t, p in zip(self.types.types, np.asarray(probabilities, np.float64).reshape(-1)):
            for d, w in self.type_weights.get(t, self.fixed_weights).items():
                mixed[d] = mixed.get(d, 0.0) + float(p) * float(w)
        total = sum(mixed.values()) or 1.0
        return {d: round(w / total, 4) for d, w in mixed.items()}

    # -- files ------------------------------------------------------------------------------
    def save(self, model_dir: Path) -> None:
        model_dir = Path(model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        p = self.projection
        segs = []
        for i, s in enumerate(p.segments):
            segs.append({"start": s.start, "stop": s.stop, "projected": s.components is not None})
            if s.components is not None:
                assert s.mean is not None
                arrays[f"seg{i}_mean"], arrays[f"seg{i}_components"] = s.mean, s.components
        arrays.update(proj_mean=p.mean, proj_std=p.std, proj_w2=p.w2, proj_b2=p.b2)
        if p.w1 is not None:
            assert p.b1 is not None
            arrays.update(proj_w1=p.w1, proj_b1=p.b1)
        types = None
        if self.types is not None:
            t = self.types
            types = {"types": t.types, "inputs": t.inputs}
            arrays.update(type_mean=t.mean, type_std=t.std, type_w=t.w, type_b=t.b)
        meta = {
            "format_version": self.format_version,
            "name": self.name,
            "version": self.version,
            "labels": self.labels,
            "embedding_model": self.embedding_model,
            "projection": {"segments": segs, "dim": p.dim, "hidden": p.w1 is not None},
            "types": types,
            "type_weights": self.type_weights,
            "fixed_weights": self.fixed_weights,
            "metrics": self.metrics,
            "training": self.training,
        }
        buf = io.BytesIO()
        as_float32: dict[str, Any] = {k: np.asarray(v, np.float32) for k, v in arrays.items()}
        np.savez(buf, **as_float32)
        write_atomic(model_dir / STYLE_MODEL_NPZ, buf.getvalue())
        write_atomic(model_dir / STYLE_MODEL_JSON, json.dumps(meta, indent=1).encode())

    @classmethod
    def load(cls, model_dir: Path) -> StyleModel:
        model_dir = Path(model_dir)
        meta_path = model_dir / STYLE_MODEL_JSON
        if not meta_path.is_file():
            raise FileNotFoundError(f"{model_dir} holds no style model ({STYLE_MODEL_JSON} is missing)")
        meta = json.loads(meta_path.read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{model_dir}: style model format {meta.get('format_version')} is not {FORMAT_VERSION}; "
                "train it again with `artsnap train-style`"
            )
        with np.load(model_dir / STYLE_MODEL_NPZ, allow_pickle=False) as z:
            a = {k: z[k] for k in z.files}
        segs = [
            Segment(
                int(s["start"]),
                int(s["stop"]),
                a.get(f"seg{i}_mean") if s["projected"] else None,
                a.get(f"seg{i}_components") if s["projected"] else None,
            )
            for i, s in enumerate(meta["projection"]["segments"])
        ]
        proj = ArtStyleProjection(
            segments=segs,
            mean=a["proj_mean"],
            std=a["proj_std"],
            w2=a["proj_w2"],
            b2=a["proj_b2"],
            w1=a.get("proj_w1"),
            b1=a.get("proj_b1"),
        )
        types = None
        if meta.get("types"):
            t = meta["types"]
            types = TypeModel(
                list(t["types"]), list(t["inputs"]), a["type_mean"], a["type_std"], a["type_w"], a["type_b"]
            )
        return cls(
            name=meta["name"],
            version=meta["version"],
            labels=list(meta["labels"]),
            embedding_model=meta["embedding_model"],
            projection=proj,
            types=types,
            type_weights={k: dict(v) for k, v in meta.get("type_weights", {}).items()},
            fixed_weights=dict(meta.get("fixed_weights", {})),
            metrics=meta.get("metrics", {}),
            training=meta.get("training", {}),
        )


def load_style_model(model_dir: str | Path) -> StyleModel:
    """The style model in ``model_dir`` (a training output or a registered copy)."""
    return StyleModel.load(Path(model_dir))
