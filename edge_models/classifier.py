"""The server side of the category classifier: load once, label images with ONNX Runtime.

Ingest (label every catalogue item, stored as machine labels with confidence) and search (the
query's predicted labels) call :func:`load_classifier` once and :meth:`Classifier.predict` per
batch. It runs the very ``classifier.onnx`` whose parity with torch and with the phone files
was checked at export, and applies the decision rule written in the model card:

* single-label: the top category if its calibrated probability ≥ ``abstain_threshold``,
  otherwise no label ("none of these categories");
* multi-label: every label whose probability ≥ its own threshold (possibly none).

With ``trusted=True`` the stricter *trusted* thresholds of the card apply too (chosen on
validation for a stated precision, :func:`edge_models.calibration.precision_threshold`):
that is the rule for labels that leave the model — ingest's machine labels, which become
hidden labels for related images and export candidates. A card without them (trained
before they existed) falls back to the abstain rule.

The same pass yields the L2-normalised embedding (:meth:`Classifier.run`), so a caller that
needs both pays for one backbone pass. The embedding is only comparable with the catalogue
index when ``embedding_space`` equals the index's (a frozen backbone); a fine-tuned model says
so in its card.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .model_dir import ClassifierConfig, load_config
from .runtime import make_session

__all__ = ["Classifier", "ClassifierOutput", "Prediction", "load_classifier"]


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float  # calibrated probability


@dataclass
class ClassifierOutput:
    probabilities: np.ndarray  # (N, C), calibrated
    embeddings: np.ndarray  # (N, D), L2-normalised
    predictions: list[list[Prediction]]


class Classifier:
    """An exported classifier: ``classifier.onnx`` + its config, in an ONNX Runtime session."""

    def __init__(self, model_dir: Path, config: ClassifierConfig, session: Any) -> None:
        self.model_dir = Path(model_dir)
        self.config = config
        self.session = session

    def thresholds(self, *, trusted: bool = False) -> np.ndarray:
        """Per-label thresholds of the card's rule, read from ``config`` at each call (a caller
        may tighten ``abstain_threshold`` on a loaded model); ``trusted`` adds the precision ones."""
        config = self.config
        rule = (
            np.asarray(config.label_thresholds, np.float32)
            if config.multi_label
            else np.full(len(config.labels), config.abstain_threshold, np.float32)
        )
        if not trusted:
            return rule
        strict = (
            np.asarray(config.trusted_thresholds, np.float32)
            if config.multi_label and len(config.trusted_thresholds) == len(config.labels)
            else np.full(len(config.labels), 0.0 if config.multi_label else config.trusted_threshold, np.float32)
        )
        return np.maximum(rule, strict)

    @property
    def labels(self) -> list[str]:
        return list(self.config.labels)

    @property
    def version(self) -> str:
        return self.config.version

    @property
    def embedding_space(self) -> str:
        return self.config.embedding_space

    def run_batch(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Preprocessed (N, 3, S, S) → (probabilities, embeddings)."""
        sess = self.session
        probs, emb = sess.run(["probabilities", "embedding"], {"image": np.ascontiguousarray(batch, np.float32)})
        return probs, emb

    def decide(self, probs: np.ndarray, *, top_k: int = 1, trusted: bool = False) -> list[list[Prediction]]:
        """Apply the card's decision rule; ``top_k`` caps labels per image (best first);
        ``trusted``: only labels that also pass the trusted (precision) thresholds."""
        out: list[list[Prediction]] = []
        labels = self.config.labels
        thresholds = self.thresholds(trusted=trusted)
        for row in probs:
            order = np.argsort(-row)
            if self.config.multi_label:
                chosen = [i for i in order if row[i] >= thresholds[i]][:top_k] if top_k else []
            else:
                chosen = [i for i in order[:top_k] if row[i] >= thresholds[i]]
            out.append([Prediction(labels[i], float(row[i])) for i in chosen])
        return out

    def run(
        self, images: Sequence[Image.Image], *, top_k: int = 1, batch_size: int = 32, trusted: bool = False
    ) -> ClassifierOutput:
        """Preprocess with the model's own spec, run, decide. Images: decoded RGB Pillow images."""
        spec = self.config.spec
        probs, embs = [], []
        for s in range(0, len(images), batch_size):
            p, e = self.run_batch(spec.to_batch(list(images[s : s + batch_size])))
            probs.append(p)
            embs.append(e)
        if not probs:
            n, d = len(self.config.labels), self.config.embedding_dim
            return ClassifierOutput(np.zeros((0, n), np.float32), np.zeros((0, d), np.float32), [])
        p, e = np.concatenate(probs), np.concatenate(embs)
        return ClassifierOutput(p, e, self.decide(p, top_k=top_k, trusted=trusted))

    def predict(
        self, images: Sequence[Image.Image], *, top_k: int = 1, trusted: bool = False
    ) -> list[list[Prediction]]:
        """One list per image: its labels with confidence; empty = "none of these categories"."""
        return self.run(images, top_k=top_k, trusted=trusted).predictions


def load_classifier(model_dir: str | Path, *, threads: int = 0, device: str = "auto") -> Classifier:
    """Load ``model_dir/classifier.onnx`` with its config. Never exports: serving stays torch-free.

    Raises ``FileNotFoundError`` naming the command that writes the file when the folder
    holds only a training run.
    """
    model_dir = Path(model_dir)
    config = load_config(model_dir)
    path = model_dir / "classifier.onnx"
    if not path.exists():
        raise FileNotFoundError(
            f"{model_dir} has no classifier.onnx yet; run `artsnap export-classifier {model_dir}` first"
        )
    return Classifier(model_dir, config, make_session(path, threads=threads, device=device))
