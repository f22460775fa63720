"""The classifier head and how it is trained on cached embeddings.

A linear layer on the standardised, L2-normalised embedding. Why linear: with tens to a few
hundred images per class, a linear probe on good pretrained features is what Create ML and
MediaPipe Model Maker also train, and a hidden layer mostly adds variance. The
standardisation (train mean/std) is stored in the head as buffers, so the exported graph is
self-contained and the optimiser sees well-scaled inputs.

Imbalance: the loss is weighted per class (inverse frequency, normalised to mean 1), or per
label (``pos_weight`` = negatives/positives) for multi-label. Early stopping watches the
validation loss and restores the best epoch. The L2 strength is picked from a small grid on the
validation split, since the right amount depends on how many images a curator labelled.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

__all__ = ["HeadFit", "LinearHead", "class_weights", "fit_head", "head_logits", "select_head"]


class LinearHead(nn.Module):
    """``logits = W · (x - mean) / std + b`` on the embedding ``x``."""

    def __init__(self, dim: int, n_classes: int, mean: np.ndarray | None = None, std: np.ndarray | None = None) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean if mean is not None else np.zeros(dim), dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std if std is not None else np.ones(dim), dtype=torch.float32))
        self.fc = nn.Linear(dim, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc((x - self.mean) / self.std)


@dataclass
class HeadFit:
    """How a head was trained: chosen hyper-parameters and the early-stopping trace."""

    weight_decay: float
    best_epoch: int
    epochs_run: int
    best_val_loss: float
    val_accuracy: float
    history: list[float] = field(default_factory=list)  # validation loss per epoch
    candidates: dict[str, float] = field(default_factory=dict)  # L2 strength → val loss


def class_weights(y: np.ndarray, n_classes: int, *, multi_label: bool) -> np.ndarray:
    """Single-label: inverse class frequency, mean 1. Multi-label: negatives/positives per label."""
    if multi_label:
        pos = y.sum(axis=0)
        neg = len(y) - pos
        return (neg / np.maximum(pos, 1)).clip(0.1, 50.0).astype(np.float32)
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    w = np.where(counts > 0, len(y) / np.maximum(counts, 1) / max(1, (counts > 0).sum()), 0.0)
    return (w / w[counts > 0].mean()).astype(np.float32)


def _loss_fn(multi_label: bool, weights: np.ndarray) -> nn.Module:
    w = torch.from_numpy(weights)
    return nn.BCEWithLogitsLoss(pos_weight=w) if multi_label else nn.CrossEntropyLoss(weight=w)


def _targets(y: np.ndarray, multi_label: bool) -> torch.Tensor:
    return torch.as_tensor(y, dtype=torch.float32 if multi_label else torch.long)


def fit_head(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    *,
    n_classes: int,
    multi_label: bool,
    weight_decay: float = 1e-3,
    lr: float = 1e-2,
    max_epochs: int = 300,
    patience: int = 25,
    batch_size: int | None = None,
    seed: int = 0,
) -> tuple[LinearHead, HeadFit]:
    """Train one head with Adam (explicit L2) and early stopping on the validation loss.

    ``x_*`` are (N, D) embeddings, ``y_*`` class indices (N,) or 0/1 matrices (N, C). With an
    empty validation split it trains for ``max_epochs`` // 4 epochs and keeps the last weights.
    ``batch_size=None`` means full-batch steps: for a few thousand cached embeddings one
    step is a single small matrix product, much faster per epoch than mini-batches on CPU
    and deterministic; the early stopping still watches every epoch.
    """
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0) + 1e-6
    head = LinearHead(x_train.shape[1], n_classes, mean, std)
    fc = head.fc  # trained on inputs standardised once, up front (not per step)
    weights = class_weights(y_train, n_classes, multi_label=multi_label)
    loss_fn = _loss_fn(multi_label, weights)
    # An explicit L2 penalty on W (not AdamW's decoupled decay, which at these step counts
    # barely regularises): the loss then has one well-defined optimum per strength, and the
    # strength is what select_head tunes on validation.
    opt = torch.optim.Adam(fc.parameters(), lr=lr)
    xt = torch.from_numpy(np.ascontiguousarray((x_train - mean) / std, np.float32))
    xv = torch.from_numpy(np.ascontiguousarray((x_val - mean) / std, np.float32)) if len(x_val) else torch.zeros(0)
    yt, yv = _targets(y_train, multi_label), _targets(y_val, multi_label)
    has_val = len(x_val) > 0
    epochs = max_epochs if has_val else max(1, max_epochs // 4)

    best_loss, best_epoch = float("inf"), 0
    best_state = {k: v.clone() for k, v in fc.state_dict().items()}
    history: list[float] = []
    epoch = 0
    with _threads(1):  # tiny matrices: more threads only add spin-wait on a shared 2-core box
        for epoch in range(1, epochs + 1):
            if batch_size:
                order = torch.randperm(len(xt), generator=gen)
                batches = [
                    (xt[order[s : s + batch_size]], yt[order[s : s + batch_size]])
                    for s in range(0, len(xt), batch_size)
                ]
            else:
                batches = [(xt, yt)]
            for xb, yb in batches:
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(fc(xb), yb) + weight_decay * fc.weight.pow(2).sum()
                loss.backward()
                opt.step()
            if not has_val:
                continue
            with torch.no_grad():
                val_loss = float(loss_fn(fc(xv), yv))
            history.append(val_loss)
            if val_loss < best_loss - 1e-5:
                best_loss, best_epoch = val_loss, epoch
                best_state = {k: v.clone() for k, v in fc.state_dict().items()}
            elif epoch - best_epoch >= patience:
                break
    if has_val:
        fc.load_state_dict(best_state)
    else:
        best_epoch = epoch
    head.eval()
    xv = torch.from_numpy(np.ascontiguousarray(x_val, np.float32))
    val_acc = _accuracy(head, xv, y_val, multi_label) if has_val else float("nan")
    return head, HeadFit(
        weight_decay=weight_decay,
        best_epoch=best_epoch,
        epochs_run=epoch,
        best_val_loss=best_loss if has_val else float("nan"),
        val_accuracy=val_acc,
        history=history,
    )


def select_head(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    *,
    n_classes: int,
    multi_label: bool,
    weight_decays: Sequence[float] = (0.01, 0.1, 0.3, 1.0),
    seed: int = 0,
    **kw: object,
) -> tuple[LinearHead, HeadFit]:
    """Fit one head per L2 strength; keep the one with the lowest validation loss.

    The grid spans "barely" to "strongly" regularised for standardised 1280-d features with a
    few hundred images per class; on WikiArt the strong end wins (BENCHMARKS.md, "Design
    measurements").
    """
    best: tuple[LinearHead, HeadFit] | None = None
    candidates: dict[str, float] = {}
    for wd in weight_decays if len(x_val) else weight_decays[:1]:
        head, fit = fit_head(
            x_train,
            y_train,
            x_val,
            y_val,
            n_classes=n_classes,
            multi_label=multi_label,
            weight_decay=wd,
            seed=seed,
            **kw,  # type: ignore[arg-type]  # the remaining train_head keywords, passed through
        )
        candidates[f"{wd:g}"] = fit.best_val_loss
        if best is None or fit.best_val_loss < best[1].best_val_loss:
            best = (head, fit)
    assert best is not None
    best[1].candidates = candidates
    return best


@torch.no_grad()
def head_logits(head: nn.Module, x: np.ndarray) -> np.ndarray:
    head.eval()
    return head(torch.from_numpy(np.ascontiguousarray(x, np.float32))).numpy()


def _accuracy(head: nn.Module, xv: torch.Tensor, y_val: np.ndarray, multi_label: bool) -> float:
    with torch.no_grad():
        logits = head(xv).numpy()
    if multi_label:
        return float(((logits > 0) == (y_val > 0.5)).all(axis=1).mean())
    return float((logits.argmax(1) == y_val).mean())


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
