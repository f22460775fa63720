"""Optional second stage: fine-tune the last backbone blocks together with the head.

Why only the tail, and why after the head: with a few hundred images per class, updating
the whole network overfits and forgets; the last blocks hold the most task-specific
features, and starting from the already trained head keeps the first steps from wrecking
them with random gradients. BatchNorm statistics stay frozen (the whole net runs in eval
mode): batches of 32 paintings are too small and too unlike ImageNet to re-estimate them.

It runs on the GPU when one is present (:func:`best_torch_device`); on 2 CPU cores a full
epoch over a few thousand images takes minutes, which is why it is opt-in. The code path is
the same either way and a tiny run is part of the tests.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .augment import PhoneAugment
from .backbone import best_torch_device
from .classifier_backbone import BackboneChoice
from .classifier_net import head_input
from .features import load_view
from .head import LinearHead, class_weights
from .int8_grid import snap_to_int8_grid
from .preprocessing import PreprocessSpec

log = logging.getLogger(__name__)

__all__ = ["FineTuneResult", "fine_tune"]


@dataclass
class FineTuneResult:
    backbone: nn.Module
    head: LinearHead
    best_epoch: int
    history: list[float] = field(default_factory=list)  # validation loss per epoch
    device: str = "cpu"
    trainable_parameters: int = 0


class _Model(nn.Module):
    def __init__(self, backbone: nn.Module, head: LinearHead) -> None:
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(head_input(self.backbone(x), getattr(self.backbone, "embedding_dim", None))[1])


def fine_tune(
    choice: BackboneChoice,
    head: LinearHead,
    train: Sequence[tuple[str, Callable[[], bytes]]],  # (sha256, read) per training image
    y_train: np.ndarray,
    val: Sequence[tuple[str, Callable[[], bytes]]],
    y_val: np.ndarray,
    *,
    multi_label: bool,
    spec: PreprocessSpec,
    blocks: int = 2,
    epochs: int = 5,
    lr: float = 1e-4,
    head_lr: float = 1e-3,
    batch_size: int = 32,
    patience: int = 2,
    augment_prob: float = 0.7,
    seed: int = 0,
    device: torch.device | None = None,
    progress: bool = False,
) -> FineTuneResult:
    """Fine-tune ``blocks`` last blocks (+ head convs) and the head; early-stop on val loss."""
    from tqdm.auto import tqdm

    device = device or best_torch_device()
    torch.manual_seed(seed)
    backbone = choice.build()
    for p in backbone.parameters():
        p.requires_grad_(False)
    tail_params = [p for m in choice.tail(backbone, blocks) for p in m.parameters()]
    for p in tail_params:
        p.requires_grad_(True)
    model = _Model(backbone, copy.deepcopy(head)).to(device).eval()
    n_classes = head.fc.out_features
    weights = torch.from_numpy(class_weights(y_train, n_classes, multi_label=multi_label)).to(device)
    loss_fn: nn.Module = (
        nn.BCEWithLogitsLoss(pos_weight=weights) if multi_label else nn.CrossEntropyLoss(weight=weights)
    )
    opt = torch.optim.AdamW(
        [{"params": tail_params, "lr": lr}, {"params": model.head.parameters(), "lr": head_lr}], weight_decay=1e-4
    )
    augment = PhoneAugment()
    rng = np.random.default_rng(seed)
    target_dtype = torch.float32 if multi_label else torch.long

    # Validation images never change: decode and preprocess them once (uint8, 150 kB each).
    val_crops = [
        np.asarray(spec.resize_and_crop(load_view(read(), sha, 0, spec=spec, augment=augment))) for sha, read in val
    ]

    def to_batch(crops: list[np.ndarray]) -> torch.Tensor:
        arr = (np.stack(crops).astype(np.float32) - np.asarray(spec.mean, np.float32)) / np.asarray(
            spec.std, np.float32
        )
        return torch.from_numpy(np.ascontiguousarray(arr.transpose(0, 3, 1, 2))).to(device)

    def val_loss() -> float:
        if not val_crops:
            return float("nan")
        total, n = 0.0, 0
        with torch.no_grad():
            for s in range(0, len(val_crops), batch_size):
                xb = to_batch(val_crops[s : s + batch_size])
                yb = torch.as_tensor(y_val[s : s + batch_size], dtype=target_dtype, device=device)
                total += float(loss_fn(model(xb), yb)) * len(xb)
                n += len(xb)
        return total / n

    best_loss = val_loss()
    best_state = copy.deepcopy(model.state_dict())
    best_epoch, history = 0, [best_loss]
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(train))
        bar = tqdm(
            range(0, len(order), batch_size), desc=f"fine-tune {epoch}/{epochs}", disable=not progress, leave=False
        )
        for s in bar:
            idx = order[s : s + batch_size]
            crops = []
            for i in idx:
                sha, read = train[i]
                view = int(rng.integers(1, 1_000_000)) if rng.random() < augment_prob else 0
                img = load_view(read(), sha, view, spec=spec, augment=augment, seed=seed)
                crops.append(np.asarray(spec.resize_and_crop(img)))
            xb = to_batch(crops)
            yb = torch.as_tensor(y_train[idx], dtype=target_dtype, device=device)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            bar.set_postfix(loss=f"{float(loss):.3f}")
        current = val_loss()
        history.append(current)
        log.info("fine-tune epoch %d: val loss %.4f", epoch, current)
        if not np.isnan(current) and current < best_loss - 1e-5:
            best_loss, best_epoch, best_state = current, epoch, copy.deepcopy(model.state_dict())
        elif epoch - best_epoch >= patience:
            break
    if val_crops:
        model.load_state_dict(best_state)
    model = model.cpu().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    # Tuned weights leave the int8 grid; put them back so the int8 export stays exact there
    # (see int8_grid). The val/test features and the calibration that follow see these weights.
    snap_to_int8_grid(model.backbone)
    return FineTuneResult(
        backbone=model.backbone,
        head=model.head,
        best_epoch=best_epoch,
        history=history,
        device=str(device),
        trainable_parameters=int(sum(p.numel() for p in tail_params)),
    )
