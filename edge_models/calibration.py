"""Turning logits into probabilities a curator can trust, and knowing when to say "none".

*Temperature scaling* (Guo et al., 2017): one scalar T divides the logits, fitted on the
validation split by minimising the negative log-likelihood. It changes no prediction, only
how confident they are — a head trained with class weights and early stopping is usually
mis-calibrated, and the abstain threshold below only means something on calibrated numbers.

*Abstain threshold*: below it the model answers "none of these categories". It is set on
validation so that a fixed share (default 95 %) of the answers the model gets *right* are
still given; what that costs and buys (coverage, accuracy of the answers given) is measured
on the test split and written in the report. With no out-of-collection images to tune on,
this is the honest operating point: it bounds the loss of good answers, not the false ones.

*Trusted threshold* (for machine labels that leave the model): a stricter confidence, set on
validation so that the answers at or above it are right at least a stated share of the time
(default 90 % precision). Ingest stores only labels that pass it, so what becomes a "hidden
label" for related images, or reaches a curator's export to Europeana, has a known precision;
its precision and coverage on the test split are measured and written in the model card.

*Multi-label*: each label gets its own sigmoid; the per-label thresholds maximise that label's
F1 on validation (kept within [0.2, 0.8] so a tiny validation set cannot push them to
extremes). No label above its threshold is the "none" answer.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "abstain_threshold",
    "apply_temperature",
    "expected_calibration_error",
    "fit_temperature",
    "label_thresholds",
    "precision_threshold",
    "precision_thresholds",
    "softmax",
    "sigmoid",
]


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits))


def apply_temperature(logits: np.ndarray, temperature: float, *, multi_label: bool) -> np.ndarray:
    scaled = logits / temperature
    return sigmoid(scaled) if multi_label else softmax(scaled)


def _nll(logits: np.ndarray, y: np.ndarray, t: float, multi_label: bool) -> float:
    if multi_label:
        p = np.clip(sigmoid(logits / t), 1e-7, 1 - 1e-7)
        return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())
    z = logits / t
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())


def fit_temperature(logits: np.ndarray, y: np.ndarray, *, multi_label: bool) -> float:
    """The T in [0.05, 20] minimising validation NLL (log-grid, then a finer grid around it).

    A 1-D search needs no optimiser tuning and cannot diverge; returns 1.0 without data.
    """
    if len(logits) == 0:
        return 1.0
    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 121))
    losses = [_nll(logits, y, t, multi_label) for t in grid]
    i = int(np.argmin(losses))
    lo, hi = grid[max(0, i - 1)], grid[min(len(grid) - 1, i + 1)]
    fine = np.exp(np.linspace(np.log(lo), np.log(hi), 41))
    losses = [_nll(logits, y, t, multi_label) for t in fine]
    return float(fine[int(np.argmin(losses))])


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, *, bins: int = 15) -> float:
    """Top-1 ECE for single-label predictions: mean |confidence − accuracy| over confidence bins."""
    if len(probs) == 0:
        return float("nan")
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            ece += m.mean() * abs(conf[m].mean() - correct[m].mean())
    return float(ece)


def abstain_threshold(probs: np.ndarray, y: np.ndarray, *, keep_correct: float = 0.95) -> float:
    """Confidence below which the model abstains: keeps ``keep_correct`` of correct val answers."""
    if len(probs) == 0:
        return 0.0
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y
    if not correct.any():
        return 0.0
    return float(np.quantile(conf[correct], 1.0 - keep_correct))


def label_thresholds(probs: np.ndarray, y: np.ndarray, *, lo: float = 0.2, hi: float = 0.8) -> np.ndarray:
    """Per-label sigmoid thresholds that maximise each label's validation F1 (0.5 if no data)."""
    n_labels = probs.shape[1] if probs.ndim == 2 else 0
    out = np.full(n_labels, 0.5, dtype=np.float32)
    if len(probs) == 0:
        return out
    candidates = np.linspace(lo, hi, 25)
    for j in range(n_labels):
        truth = y[:, j] > 0.5
        if not truth.any():
            continue
        best_f1, best_t = -1.0, 0.5
        for t in candidates:
            pred = probs[:, j] >= t
            tp = float((pred & truth).sum())
            f1 = 2 * tp / max(1.0, float(pred.sum() + truth.sum()))
            if f1 > best_f1 + 1e-9 or (abs(f1 - best_f1) <= 1e-9 and abs(t - 0.5) < abs(best_t - 0.5)):
                best_f1, best_t = f1, float(t)
        out[j] = best_t
    return out


def precision_threshold(conf: np.ndarray, correct: np.ndarray, *, precision: float) -> float:
    """Lowest confidence at which the answers at or above it are right ``precision`` of the time.

    Scans the validation answers from the most confident down and keeps the largest prefix
    whose precision is still at least ``precision``; the threshold is that prefix's lowest
    confidence. When not even the most confident answer is right often enough, returns a
    value above 1 (nothing passes): a model that cannot reach the precision labels nothing.
    """
    if not 0.0 < precision <= 1.0:
        raise ValueError(f"precision must be in (0, 1], got {precision}")
    conf = np.asarray(conf, np.float64)
    correct = np.asarray(correct, bool)
    if len(conf) == 0:
        return 1.0 + 1e-6
    order = np.argsort(-conf, kind="stable")
    hits = np.cumsum(correct[order])
    prec = hits / np.arange(1, len(order) + 1)
    # Only cut between distinct confidences: ties pass or fail together at run time.
    c = conf[order]
    cut_ok = np.append(c[1:] < c[:-1], True)
    ok = np.flatnonzero((prec >= precision) & cut_ok)
    if len(ok) == 0:
        return 1.0 + 1e-6
    return float(c[ok[-1]])


def precision_thresholds(probs: np.ndarray, y: np.ndarray, *, precision: float) -> np.ndarray:
    """Multi-label: :func:`precision_threshold` per label (a label's answers are its probabilities)."""
    n_labels = probs.shape[1] if probs.ndim == 2 else 0
    return np.asarray(
        [precision_threshold(probs[:, j], y[:, j] > 0.5, precision=precision) for j in range(n_labels)], np.float32
    )
