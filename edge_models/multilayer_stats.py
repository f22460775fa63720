"""Multi-layer channel statistics of the backbone: what a style classifier's head reads.

Why: the pooled last-layer feature is an ImageNet *object* descriptor; style (brushwork,
palette, flatness, line) lives as much in the early and middle blocks' texture statistics
as in what is depicted. The per-channel mean and standard deviation of a block's feature map
are the first- and second-moment "style" statistics of neural style transfer (AdaIN) at a
fraction of a Gram matrix's size, and they are cheap, static-shape reductions that ONNX,
TFLite (int8 included) and Core ML all run: the head of every exported file reads them from
the same single forward pass.

The module re-runs the backbone's own ``extract_features`` loop (stem, blocks, head conv) so
it taps the blocks without hooks (hooks do not survive ``torch.export``); the blocks and
weights are the backbone's, so the pooled embedding is bit-for-bit the plain one.

Output (one tensor, so every exporter and the feature cache treat it as before)::

    [ pooled last-layer feature (embedding_dim) | mean, std of each tapped block | (std of the last layer) ]

The last layer's deviation is optional and off by default: on WikiArt it added 1 280 numbers
and no accuracy (BENCHMARKS.md, classifier section); the stage ends' statistics are what pay.

:func:`edge_models.classifier_net.head_input` splits it: the first part becomes the
L2-normalised embedding (same space as the catalogue's), the whole vector the head's input.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = [
    "LITE0_BLOCK_CHANNELS",
    "STAGE_ENDS",
    "STATS_VERSION",
    "MultiLayerStats",
    "channel_mean_std",
    "stats_width",
]

#: EfficientNet-Lite0's last block of each resolution stage (16, 24, 40, 80, 112, 192, 320 channels).
STAGE_ENDS: tuple[int, ...] = (0, 2, 4, 7, 10, 14, 15)
#: Output channels of Lite0's 16 blocks (checked against the network by the tests).
LITE0_BLOCK_CHANNELS: tuple[int, ...] = (16, 24, 24, 40, 40, 80, 80, 80, 112, 112, 112, 192, 192, 192, 192, 320)
#: Bumped whenever what the module computes changes, so cached features are never reused across it.
STATS_VERSION = 1
_EPS = 1e-6


class MultiLayerStats(nn.Module):
    """EfficientNet-Lite ``net`` → pooled feature followed by channel statistics of ``taps``."""

    def __init__(self, net: nn.Module, taps: tuple[int, ...] = STAGE_ENDS, *, last_std: bool = False) -> None:
        super().__init__()
        self.net = net
        self.taps = tuple(int(t) for t in taps)
        self.last_std = bool(last_std)
        blocks = list(net._blocks)  # type: ignore[union-attr, arg-type]  # efficientnet_lite_pytorch keeps blocks in ._blocks
        if any(t < 0 or t >= len(blocks) for t in self.taps):
            raise ValueError(f"taps {self.taps} outside the backbone's {len(blocks)} blocks")
        self.embedding_dim = int(net._conv_head.out_channels)  # type: ignore[union-attr, arg-type]  # the package's head conv
        tapped = sum(int(blocks[t]._project_conv.out_channels) for t in self.taps)
        self.out_dim = self.embedding_dim + 2 * tapped + (self.embedding_dim if self.last_std else 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        net = self.net
        x = net._swish(net._bn0(net._conv_stem(x)))  # type: ignore[operator]  # the package's stem
        stats: list[torch.Tensor] = []
        blocks = net._blocks  # type: ignore[union-attr]  # a ModuleList
        rate = float(net._global_params.drop_connect_rate or 0.0)  # type: ignore[union-attr]  # package config
        for idx, block in enumerate(blocks):  # type: ignore[arg-type]  # ModuleList is iterable
            x = block(x, drop_connect_rate=rate * float(idx) / len(blocks) if rate else rate)  # type: ignore[arg-type]  # as extract_features does
            if idx in self.taps:
                stats.extend(channel_mean_std(x))
        x = net._swish(net._bn1(net._conv_head(x)))  # type: ignore[operator]  # the package's head conv
        mean, std = channel_mean_std(x)
        parts = [mean, *stats]
        if self.last_std:
            parts.append(std)
        return torch.cat(parts, dim=1)


def channel_mean_std(fmap: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation over the spatial axes, in ops every runtime has."""
    mean = fmap.mean(dim=(2, 3))
    var = (fmap * fmap).mean(dim=(2, 3)) - mean * mean
    return mean, torch.sqrt(torch.clamp(var, min=0.0) + _EPS)


def stats_width(embedding_dim: int, taps: tuple[int, ...], *, last_std: bool = False) -> int:
    """Width of :class:`MultiLayerStats`'s output on Lite0, without building the network."""
    return embedding_dim + 2 * sum(LITE0_BLOCK_CHANNELS[t] for t in taps) + (embedding_dim if last_std else 0)
