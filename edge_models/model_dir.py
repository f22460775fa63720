"""What a training run leaves in its output folder, and how export and serving read it back.

``train-classifier SOURCE --out DIR`` writes::

    DIR/classifier.json          labels, mode, temperature, thresholds, preprocessing, metrics, hashes
    DIR/head.pt                  the head's state dict (standardisation + linear layer)
    DIR/backbone.pt              only when fine-tuned: the whole backbone's state dict
    DIR/samples/calibration.zip  ~100 training images (clean and phone-like views) for int8 PTQ
    DIR/samples/parity.zip       up to 600 test images, to prove exported files agree with torch
    DIR/report.md|json, confusion_matrix.png, learning_curve.png, splits.json

and ``export-classifier DIR`` adds the model files and ``model_card.json``. Keeping the
representative images inside DIR makes export reproducible without the SOURCE at hand.
Images are stored after the spec's resize + centre crop, as JPEG q95: small, and every
runtime being compared decodes the very same pixels.

This module never imports torch (serving reads ``classifier.json`` through it); the weights
are saved and rebuilt by :mod:`edge_models.trained`.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image

from .model_card import write_atomic
from .preprocessing import PreprocessSpec

__all__ = [
    "CONFIG_NAME",
    "ClassifierConfig",
    "load_config",
    "read_sample_images",
    "write_sample_images",
]

CONFIG_NAME = "classifier.json"
HEAD_NAME = "head.pt"
BACKBONE_STATE_NAME = "backbone.pt"
FORMAT_VERSION = 1


@dataclass
class ClassifierConfig:
    """Everything about a trained classifier except its weights (JSON in ``classifier.json``)."""

    name: str
    version: str
    backbone: str
    labels: list[str]
    multi_label: bool
    temperature: float
    preprocessing: dict[str, Any]
    training_data_hash: str
    abstain_threshold: float = 0.0  # single-label: answer only if top probability >= this
    label_thresholds: list[float] = field(default_factory=list)  # multi-label: per label
    # Machine labels that leave the model (stored by ingest, so hidden labels for related
    # images and candidates for export) must reach these: chosen on validation for
    # ``label_precision`` (see edge_models.calibration). Empty/0 in folders trained before.
    label_precision: float = 0.0
    trusted_threshold: float = 0.0  # single-label
    trusted_thresholds: list[float] = field(default_factory=list)  # multi-label: per label
    fine_tuned: bool = False
    embedding_space: str = ""
    embedding_dim: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def spec(self) -> PreprocessSpec:
        return PreprocessSpec.from_dict(self.preprocessing)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassifierConfig:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def load_config(model_dir: Path) -> ClassifierConfig:
    path = Path(model_dir) / CONFIG_NAME
    if not path.exists():
        raise FileNotFoundError(f"{model_dir} holds no trained classifier ({CONFIG_NAME} is missing)")
    return ClassifierConfig.from_dict(json.loads(path.read_text()))


def write_sample_images(path: Path, images: Sequence[Image.Image], names: Sequence[str] | None = None) -> None:
    """Store already resized+cropped images as JPEG q95 in a zip (see module docstring)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for i, img in enumerate(images):
            jpg = io.BytesIO()
            img.convert("RGB").save(jpg, format="JPEG", quality=95)
            name = names[i] if names is not None else f"{i:04d}"
            zf.writestr(f"{i:04d}_{Path(name).stem[:40]}.jpg", jpg.getvalue())
    write_atomic(Path(path), buf.getvalue())


def read_sample_images(path: Path) -> list[Image.Image]:
    with zipfile.ZipFile(path) as zf:
        out = []
        for name in sorted(zf.namelist()):
            img = Image.open(io.BytesIO(zf.read(name)))
            img.load()
            out.append(img.convert("RGB"))
        return out
