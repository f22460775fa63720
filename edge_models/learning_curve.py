"""How accuracy grows with the number of labelled images per category.

Curators ask "how many images must I label?". The curve answers it on *their* collection:
heads are trained on 10, 25, 50, 100 and all training images per category (sampled by
duplicate group, so copies never inflate a budget), early-stopped on the same validation
split and scored on the same test split. Small budgets are repeated with different samples
and the spread is reported, since 10 images can be lucky or unlucky. Cheap: it re-uses the
cached frozen features, no backbone pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .calibration import sigmoid, softmax
from .head import head_logits, select_head
from .metrics import evaluate_multi_label, evaluate_single_label

__all__ = ["DEFAULT_SIZES", "LearningCurve", "LearningCurvePoint", "learning_curve", "sample_per_class"]

DEFAULT_SIZES: tuple[int | None, ...] = (10, 25, 50, 100, None)  # None = all


@dataclass
class LearningCurvePoint:
    per_class: int | None  # requested images per category (None = all)
    n_train: int  # images actually used (a category may have fewer than requested)
    accuracy: float
    accuracy_std: float
    macro_f1: float
    macro_f1_std: float
    repeats: int

    @property
    def label(self) -> str:
        return "all" if self.per_class is None else str(self.per_class)


@dataclass
class LearningCurve:
    points: list[LearningCurvePoint] = field(default_factory=list)
    n_test: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"n_test": self.n_test, "points": [asdict(p) | {"label": p.label} for p in self.points]}


def sample_per_class(y: np.ndarray, n: int | None, rng: np.random.Generator, *, multi_label: bool) -> np.ndarray:
    """Indices of at most ``n`` items per category (multi-label: per label, union of picks)."""
    if n is None:
        return np.arange(len(y))
    picks: set[int] = set()
    n_classes = y.shape[1] if multi_label else int(y.max()) + 1 if len(y) else 0
    for c in range(n_classes):
        members = np.flatnonzero(y[:, c] > 0.5) if multi_label else np.flatnonzero(y == c)
        chosen = rng.choice(members, size=min(n, len(members)), replace=False) if len(members) else []
        picks.update(int(i) for i in chosen)
    return np.array(sorted(picks), dtype=np.int64)


def learning_curve(
    x_train_views: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    labels: list[str],
    *,
    multi_label: bool,
    sizes: Sequence[int | None] = DEFAULT_SIZES,
    repeats: int = 3,
    seed: int = 0,
    progress: bool = False,
    max_epochs: int = 300,
) -> LearningCurve:
    """``x_train_views``: (N, V, D) — every view of a sampled image goes in with it."""
    from tqdm.auto import tqdm

    n_classes = len(labels)
    biggest = int(np.max(np.bincount(y_train, minlength=n_classes))) if not multi_label and len(y_train) else None
    curve = LearningCurve(n_test=int(len(y_test)))
    runs = [(n, r) for n in sizes for r in range(1 if n is None or (biggest is not None and n >= biggest) else repeats)]
    results: dict[int | None, list[tuple[int, float, float]]] = {}
    for n, r in tqdm(runs, desc="learning curve", disable=not progress, leave=False):
        rng = np.random.default_rng([seed, r, 0 if n is None else n + 1])
        idx = sample_per_class(y_train, n, rng, multi_label=multi_label)
        views = x_train_views.shape[1]
        xs = x_train_views[idx].reshape(len(idx) * views, -1)
        ys = np.repeat(y_train[idx], views, axis=0)
        head, _ = select_head(
            xs, ys, x_val, y_val, n_classes=n_classes, multi_label=multi_label, seed=seed + r, max_epochs=max_epochs
        )
        logits = head_logits(head, x_test)
        if multi_label:
            ev = evaluate_multi_label(sigmoid(logits), y_test, labels, thresholds=np.full(n_classes, 0.5))
        else:
            ev = evaluate_single_label(softmax(logits), y_test, labels)
        results.setdefault(n, []).append((len(idx), ev.accuracy, ev.macro_f1))
    for n in sizes:
        rows = results.get(n, [])
        if not rows:
            continue
        arr = np.array(rows, dtype=np.float64)
        curve.points.append(
            LearningCurvePoint(
                per_class=n,
                n_train=int(arr[:, 0].mean()),
                accuracy=float(arr[:, 1].mean()),
                accuracy_std=float(arr[:, 1].std()),
                macro_f1=float(arr[:, 2].mean()),
                macro_f1_std=float(arr[:, 2].std()),
                repeats=len(rows),
            )
        )
    return curve
