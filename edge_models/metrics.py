"""Classification metrics for the training report and the benchmarks (numpy only).

Accuracy alone hides what a curator needs to know with imbalanced categories, so every
evaluation also gives macro-F1 (each category counts the same), per-category precision and
recall, the confusion matrix, calibration error, and what the abstain threshold does
(coverage: share of images that get an answer; selective accuracy: how often those answers
are right).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .calibration import expected_calibration_error

__all__ = ["ClassMetrics", "Evaluation", "evaluate_multi_label", "evaluate_single_label"]


@dataclass
class ClassMetrics:
    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class Evaluation:
    """Test (or validation) results; ``confusion[i][j]`` = true i predicted j (single-label)."""

    n: int
    accuracy: float  # single-label: top-1; multi-label: exact-match (subset) accuracy
    macro_f1: float
    per_class: list[ClassMetrics]
    confusion: list[list[int]] = field(default_factory=list)
    ece: float | None = None
    coverage: float | None = None  # share of images answered (not abstained)
    selective_accuracy: float | None = None  # accuracy on the answered ones
    micro_f1: float | None = None  # multi-label only

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> dict[str, float]:
        """The headline numbers (for the model card)."""
        out = {"n": self.n, "accuracy": round(self.accuracy, 4), "macro_f1": round(self.macro_f1, 4)}
        for key in ("ece", "coverage", "selective_accuracy", "micro_f1"):
            value = getattr(self, key)
            if value is not None:
                out[key] = round(float(value), 4)
        return out


def _prf(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), 0.0)
    recall = np.where(tp + fn > 0, tp / np.maximum(tp + fn, 1), 0.0)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    return precision, recall, f1


def evaluate_single_label(
    probs: np.ndarray, y: np.ndarray, labels: list[str], *, threshold: float | None = None
) -> Evaluation:
    """Top-1 metrics; macro-F1 averages over categories present in ``y``."""
    n_classes = len(labels)
    pred = probs.argmax(axis=1) if len(probs) else np.zeros(0, int)
    conf = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(conf, (y, pred), 1)
    tp = np.diag(conf).astype(float)
    fp = conf.sum(axis=0) - tp
    fn = conf.sum(axis=1) - tp
    precision, recall, f1 = _prf(tp, fp, fn)
    support = conf.sum(axis=1)
    present = support > 0
    per_class = [
        ClassMetrics(labels[i], float(precision[i]), float(recall[i]), float(f1[i]), int(support[i]))
        for i in range(n_classes)
    ]
    coverage = selective = None
    if threshold is not None and len(probs):
        answered = probs.max(axis=1) >= threshold
        coverage = float(answered.mean())
        selective = float((pred[answered] == y[answered]).mean()) if answered.any() else float("nan")
    return Evaluation(
        n=int(len(y)),
        accuracy=float((pred == y).mean()) if len(y) else float("nan"),
        macro_f1=float(f1[present].mean()) if present.any() else float("nan"),
        per_class=per_class,
        confusion=conf.tolist(),
        ece=expected_calibration_error(probs, y) if len(y) else None,
        coverage=coverage,
        selective_accuracy=selective,
    )


def evaluate_multi_label(probs: np.ndarray, y: np.ndarray, labels: list[str], *, thresholds: np.ndarray) -> Evaluation:
    """Per-label P/R/F1 at the per-label thresholds, micro/macro-F1, exact-match accuracy."""
    truth = y > 0.5
    pred = probs >= thresholds[None, :]
    tp = (pred & truth).sum(axis=0).astype(float)
    fp = (pred & ~truth).sum(axis=0).astype(float)
    fn = (~pred & truth).sum(axis=0).astype(float)
    precision, recall, f1 = _prf(tp, fp, fn)
    support = truth.sum(axis=0)
    present = support > 0
    _, _, micro = _prf(np.array([tp.sum()]), np.array([fp.sum()]), np.array([fn.sum()]))
    answered = pred.any(axis=1)
    return Evaluation(
        n=int(len(y)),
        accuracy=float((pred == truth).all(axis=1).mean()) if len(y) else float("nan"),
        macro_f1=float(f1[present].mean()) if present.any() else float("nan"),
        per_class=[
            ClassMetrics(labels[i], float(precision[i]), float(recall[i]), float(f1[i]), int(support[i]))
            for i in range(len(labels))
        ],
        coverage=float(answered.mean()) if len(y) else None,
        micro_f1=float(micro[0]),
    )
