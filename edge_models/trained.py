"""A trained classifier's weights: saved by training, rebuilt as the exact torch module by export.

The torch half of :mod:`edge_models.model_dir` (which holds the folder layout and the
torch-free config that serving reads).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from .classifier_net import ClassifierNet
from .head import LinearHead
from .model_card import write_atomic
from .model_dir import BACKBONE_STATE_NAME, CONFIG_NAME, HEAD_NAME, ClassifierConfig, load_config

__all__ = ["TrainedClassifier", "load_trained", "save_trained"]


@dataclass
class TrainedClassifier:
    config: ClassifierConfig
    net: ClassifierNet


def save_trained(
    model_dir: Path, config: ClassifierConfig, head: LinearHead, backbone: torch.nn.Module | None = None
) -> None:
    """Write config, head and (when fine-tuned) the backbone; atomically, file by file."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(head.state_dict(), buf)
    write_atomic(model_dir / HEAD_NAME, buf.getvalue())
    if backbone is not None:
        buf = io.BytesIO()
        torch.save(backbone.state_dict(), buf)
        write_atomic(model_dir / BACKBONE_STATE_NAME, buf.getvalue())
    write_atomic(model_dir / CONFIG_NAME, json.dumps(config.to_dict(), indent=2).encode())


def load_trained(model_dir: Path) -> TrainedClassifier:
    """Rebuild the exact torch module that was trained (CPU, eval mode)."""
    from .classifier_backbone import get_backbone

    model_dir = Path(model_dir)
    config = load_config(model_dir)
    choice = get_backbone(config.backbone)
    backbone = choice.build()
    if config.fine_tuned:
        backbone.load_state_dict(torch.load(model_dir / BACKBONE_STATE_NAME, map_location="cpu", weights_only=True))
    head = LinearHead(choice.head_width, len(config.labels))
    head.load_state_dict(torch.load(model_dir / HEAD_NAME, map_location="cpu", weights_only=True))
    net = ClassifierNet(backbone, head, temperature=config.temperature, multi_label=config.multi_label)
    return TrainedClassifier(config=config, net=net.eval())
