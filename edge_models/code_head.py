"""Retrieval heads on the frozen embedding: binary codes (deep supervised hashing) or learned floats.

Why a head on frozen features: the catalogue's ``cnn`` vectors already exist for every item, so
a code that is a function of them can be computed for a whole collection without touching an
image (``artsnap reindex --only code``), phones can compute it from their own embedding, and
training costs seconds to minutes on 2 cores instead of hours.

Binary codes are trained with **Central Similarity Quantization** (CSQ; Yuan, Wang, Zhang,
Yang, Fan, Lin and Tian, "Central Similarity Quantization for Efficient Image and Video
Retrieval", CVPR 2020): every class has a hash centre (:mod:`.hash_centers`), the code's
tanh-relaxed bits are pulled to their class's centre by a binary cross-entropy, and a small
quantisation term pushes them towards ±1. A multi-label item's centre is the majority vote
of its labels' centres, as in the paper. CSQ reaches the best published CIFAR-10 figures among
pointwise losses, is linear in the batch (no pairs or triplets), and its targets are fixed,
so it trains well on a few thousand cached embeddings.

Learned floats, for comparison, use a normalised softmax with learned class proxies (NormFace:
Wang, Xiang, Cheng and Yuille, "NormFace: L2 Hypersphere Embedding for Face Verification", ACM
MM 2017): the same head, no binarisation.

An optional *similarity-preserving* term distils the pretrained embedding's neighbourhoods
into the code (the in-batch softmax over pretrained cosines as the teacher, in the spirit of
Park et al., "Relational Knowledge Distillation", CVPR 2019). Codes trained only on class labels
collapse each class to a point and carry nothing about classes they never saw (Sablayrolles,
Douze, Usunier and Jégou, "How should we evaluate supervised hashing?", ICASSP 2017); keeping
some of the pretrained geometry is what lets them transfer.

The head is ``standardise → [Linear → ReLU → Dropout] → Linear(bits)``: its output are the
pre-sign values; serving takes the sign (:mod:`.code_model`). The epoch kept is the one with the
best retrieval mAP on the validation split, the figure the head exists for.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .hash_centers import hash_centers
from .retrieval_metrics import retrieval_map

__all__ = ["CodeFit", "CodeFitOptions", "CodeHead", "fit_code_head", "head_outputs", "label_centers"]

METHODS = ("csq", "float")


class CodeHead(nn.Module):
    """``z = f((x − mean) / std)``; binary code = sign(z), float embedding = z / ‖z‖."""

    def __init__(
        self,
        dim: int,
        bits: int,
        *,
        hidden: int = 0,
        dropout: float = 0.0,
        mean: np.ndarray | None = None,
        std: np.ndarray | None = None,
    ) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean if mean is not None else np.zeros(dim), dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std if std is not None else np.ones(dim), dtype=torch.float32))
        layers: list[nn.Module] = []
        if hidden:
            layers += [nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout)]
        layers.append(nn.Linear(hidden or dim, bits))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)


@dataclass(frozen=True)
class CodeFitOptions:
    """How to train a head (the CLI's flags map onto these)."""

    method: str = "csq"
    """``csq``: binary codes (central similarity); ``float``: learned float embedding (NormFace)."""
    hidden: int = 1024
    """Width of the hidden layer; 0 makes the head linear."""
    dropout: float = 0.3
    epochs: int = 40
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    quantization_weight: float = 0.05
    """CSQ's push of tanh(z) towards ±1 (log cosh(|h| − 1))."""
    similarity_weight: float = 0.0
    """Weight of the similarity-preserving distillation term (0: off)."""
    eval_every: int = 2
    seed: int = 0
    device: str | None = None
    """``cuda``/``cpu``; None picks CUDA when there is one."""


@dataclass
class CodeFit:
    best_epoch: int
    epochs_run: int
    val_map: float
    history: list[dict[str, float]] = field(default_factory=list)
    device: str = "cpu"


def label_centers(y: np.ndarray, centers: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each item's target centre: its class's, or for 0/1 label rows the majority vote (ties random)."""
    if y.ndim == 1:
        return centers[y]
    votes = y.astype(np.float32) @ centers
    ties = rng.choice(np.array([-1.0, 1.0], np.float32), size=votes.shape)
    return np.where(votes == 0, ties, np.sign(votes)).astype(np.float32)


def _relevance_labels(y: np.ndarray) -> np.ndarray:
    return y if y.ndim == 1 else y.astype(bool)


def _device(options: CodeFitOptions) -> torch.device:
    if options.device:
        return torch.device(options.device)
    from .backbone import best_torch_device

    return best_torch_device()


@torch.no_grad()
def head_outputs(head: nn.Module, x: np.ndarray, *, method: str, batch: int = 8192) -> np.ndarray:
    """What serving computes: ±1 codes (csq) or unit float embeddings (float), on the CPU."""
    head = head.eval().cpu()
    out = []
    for s in range(0, len(x), batch):
        z = head(torch.from_numpy(np.ascontiguousarray(x[s : s + batch], np.float32)))
        out.append(torch.where(z >= 0, 1.0, -1.0) if method == "csq" else nn.functional.normalize(z, dim=1))
    return torch.cat(out).numpy() if out else np.zeros((0, 0), np.float32)


def fit_code_head(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    *,
    bits: int,
    n_classes: int,
    options: CodeFitOptions = CodeFitOptions(),
) -> tuple[CodeHead, CodeFit]:
    """Train a head on (N, D) embeddings with class indices (N,) or 0/1 label rows (N, C).

    Validation mAP (each validation item queries the others, ranked by the head's output) picks
    the epoch; without a validation split the last epoch is kept.
    """
    if options.method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {options.method!r}")
    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    device = _device(options)
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    head = CodeHead(x_train.shape[1], bits, hidden=options.hidden, dropout=options.dropout, mean=mean, std=std)
    head.to(device)
    centers = hash_centers(n_classes, bits, seed=options.seed)
    xt = torch.from_numpy(np.ascontiguousarray(x_train, np.float32)).to(device)
    target = torch.from_numpy(label_centers(y_train, centers, rng)).to(device)
    params: list[nn.Parameter] = list(head.parameters())
    proxies, yt = None, None
    if options.method == "float":
        proxies = nn.Parameter(torch.randn(n_classes, bits, device=device) * 0.1)
        params.append(proxies)
        yt = torch.from_numpy(y_train if y_train.ndim == 1 else y_train.astype(np.float32)).to(device)
    opt = torch.optim.AdamW(params, lr=options.lr, weight_decay=options.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, options.epochs))
    teacher = None
    if options.similarity_weight > 0:
        teacher = nn.functional.normalize(xt, dim=1)
    bce = nn.BCELoss()
    with _cpu_threads(1 if device.type == "cpu" else 0):
        return _train_loop(
            head, xt, target, y_train, yt, proxies, teacher, x_val, y_val, opt, sched, bce, options, device
        )


def _train_loop(
    head: CodeHead,
    xt: torch.Tensor,
    target: torch.Tensor,
    y_train: np.ndarray,
    yt: torch.Tensor | None,
    proxies: nn.Parameter | None,
    teacher: torch.Tensor | None,
    x_val: np.ndarray,
    y_val: np.ndarray,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler,
    bce: nn.Module,
    options: CodeFitOptions,
    device: torch.device,
) -> tuple[CodeHead, CodeFit]:
    best = (-1.0, 0, {k: v.detach().clone() for k, v in head.state_dict().items()})
    history: list[dict[str, float]] = []
    n = len(xt)
    epoch = 0
    for epoch in range(1, options.epochs + 1):
        head.train()
        order = torch.randperm(n, device=device)
        total = 0.0
        for s in range(0, n, options.batch_size):
            idx = order[s : s + options.batch_size]
            z = head(xt[idx])
            if options.method == "csq":
                h = torch.tanh(z)
                loss = bce((h + 1) / 2, (target[idx] + 1) / 2)
                loss = loss + options.quantization_weight * torch.log(torch.cosh(h.abs() - 1)).mean()
                student = h
            else:
                assert proxies is not None and yt is not None
                e = nn.functional.normalize(z, dim=1)
                logits = 16.0 * e @ nn.functional.normalize(proxies, dim=1).T
                if y_train.ndim == 1:
                    loss = nn.functional.cross_entropy(logits, yt[idx])
                else:
                    loss = nn.functional.binary_cross_entropy_with_logits(logits, yt[idx])
                student = e
            if teacher is not None:
                loss = loss + options.similarity_weight * _similarity_distillation(teacher[idx], student)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        sched.step()
        record = {"epoch": float(epoch), "loss": total / n}
        last = epoch == options.epochs
        if len(x_val) > 1 and (epoch % options.eval_every == 0 or last):
            codes = head_outputs(head, x_val, method=options.method)
            head.to(device)
            record["val_map"] = retrieval_map(codes, _relevance_labels(y_val), exclude_self=True)
            if record["val_map"] > best[0]:
                best = (record["val_map"], epoch, {k: v.detach().clone() for k, v in head.state_dict().items()})
        history.append(record)
    if len(x_val) > 1:
        head.load_state_dict(best[2])
    else:
        best = (float("nan"), epoch, best[2])
    head.eval().cpu()
    return head, CodeFit(best_epoch=best[1], epochs_run=epoch, val_map=best[0], history=history, device=str(device))


@contextlib.contextmanager
def _cpu_threads(n: int) -> Iterator[None]:
    """Small matrices: extra intra-op threads mostly spin-wait on a shared 2-core machine (as for
    the classifier head, see :mod:`.head`); ``0`` leaves torch's setting alone."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _similarity_distillation(teacher: torch.Tensor, student: torch.Tensor, tau_t: float = 0.05) -> torch.Tensor:
    """KL between in-batch neighbour distributions: pretrained cosines (teacher) vs the head's."""
    n = len(teacher)
    if n < 3:
        return teacher.new_zeros(())
    mask = torch.eye(n, dtype=torch.bool, device=teacher.device)
    t = (teacher @ teacher.T / tau_t).masked_fill(mask, -1e9)
    s_unit = nn.functional.normalize(student, dim=1)
    s = (s_unit @ s_unit.T / (2 * tau_t)).masked_fill(mask, -1e9)
    return nn.functional.kl_div(
        nn.functional.log_softmax(s, 1), nn.functional.log_softmax(t, 1), log_target=True, reduction="batchmean"
    )
