"""Test support for the edge-model tests: a tiny registered backbone and a synthetic collection.

The tiny backbone (a few thousand parameters, deterministic weights) lets the complete
train → export (ONNX, TFLite fp32/fp16/int8, Core ML) → parity path run in seconds; the real
EfficientNet-Lite0 path is covered by the tests marked ``slow``.
"""

from __future__ import annotations

import torch
from torch import nn

from edge_models.classifier_backbone import (
    BackboneChoice,
    TorchFeatureExtractor,
    get_backbone,
    module_fingerprint,
    register_backbone,
)
from edge_models.int8_grid import snap_to_int8_grid

TINY_BACKBONE = "tiny-test"
TINY_STATS_BACKBONE = "tiny-test-stats"
TINY_DIM = 24
TINY_STATS_DIM = TINY_DIM + 2 * 16 + TINY_DIM  # pooled | mean, std of the middle block | std of the top


class TinyBackbone(nn.Module):
    """(N, 3, S, S) → (N, 24): three strided convs, ReLU6 (as EfficientNet-Lite), mean pool."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU6())
        self.block = nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU6())
        self.top = nn.Sequential(nn.Conv2d(16, TINY_DIM, 3, stride=2, padding=1), nn.ReLU6())
        g = torch.Generator().manual_seed(1234)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if p.ndim > 1:
                    fan_in = p[0].numel()
                    p.copy_(torch.randn(p.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                else:
                    p.copy_(torch.randn(p.shape, generator=g) * 0.1 + (1.0 if "stem.1.weight" in name else 0.0))
        snap_to_int8_grid(self)  # as the product backbone: int8 weights exact
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.top(self.block(self.stem(x))).mean(dim=(2, 3))


def _extractor(_cache_dir):
    module = TinyBackbone()
    return TorchFeatureExtractor(module, key=f"tiny-{module_fingerprint(module)}")


def register_tiny_backbone() -> BackboneChoice:
    try:
        return get_backbone(TINY_BACKBONE)
    except KeyError:
        choice = BackboneChoice(
            name=TINY_BACKBONE,
            dim=TINY_DIM,
            build=TinyBackbone,
            tail=lambda m, n: [m.top] + ([m.block] if n > 1 else []),
            frozen_extractor=_extractor,
            embedding_space="tiny-test",
        )
        register_backbone(choice)
        return choice


class TinyStatsBackbone(TinyBackbone):
    """The tiny net with multi-layer statistics after its pooled feature, laid out as
    :class:`edge_models.multilayer_stats.MultiLayerStats` lays out Lite0's."""

    embedding_dim = TINY_DIM

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from edge_models.multilayer_stats import channel_mean_std

        mid = self.block(self.stem(x))
        top = self.top(mid)
        mid_mean, mid_std = channel_mean_std(mid)
        top_mean, top_std = channel_mean_std(top)
        return torch.cat([top_mean, mid_mean, mid_std, top_std], dim=1)


def _stats_extractor(_cache_dir):
    module = TinyStatsBackbone()
    return TorchFeatureExtractor(module, key=f"tiny-stats-{module_fingerprint(module)}")


def register_tiny_stats_backbone() -> BackboneChoice:
    try:
        return get_backbone(TINY_STATS_BACKBONE)
    except KeyError:
        choice = BackboneChoice(
            name=TINY_STATS_BACKBONE,
            dim=TINY_DIM,
            build=TinyStatsBackbone,
            tail=lambda m, n: [m.top] + ([m.block] if n > 1 else []),
            frozen_extractor=_stats_extractor,
            embedding_space="tiny-test",
            head_dim=TINY_STATS_DIM,
        )
        register_backbone(choice)
        return choice
