"""Style statistics of the backbone's feature maps: what the style descriptor and trained heads see.

Why second-order statistics: the neural-style-transfer papers (Gatys et al. 2016) showed that
the Gram matrices of mid-level feature maps — which channels fire *together*, wherever they
are in the picture — capture brushwork, texture and palette while discarding the layout.
"Same style" is exactly that: two impressionist landscapes share their strokes, not their
composition. The pooled 1 280-d embedding mostly keeps *what* is depicted.

Computed inside the one embedding graph (:class:`edge_models.backbone.EmbeddingNet`), from
feature maps the network computes anyway, so every descriptor comes from one forward pass:

What is computed where is fixed in :mod:`edge_models.style_spec` (torch-free, so serving
knows the sizes); this module holds the torch side.

* ``style``: the Gram matrices of blocks ``STYLE_BLOCKS`` (upper triangles, signed
  square root, which tames the heavy tail of co-activations as in bilinear pooling),
  projected onto ``STYLE_DIM`` principal components and L2-normalised. The projection is
  fitted on the project's own generated paintings (:func:`fit_style_projection`), never on a
  collection whose images the project may not redistribute; it is part of the exported graph.
* ``layers``: per-channel means and standard deviations of the blocks in
  ``STAT_BLOCKS`` plus the raw Gram features: a multi-layer description for the heads that
  are *trained* on a curator's labels (the art-style embedding, the category classifier),
  which fit their own projection on the curator's collection and pick what matters for
  their task.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .style_spec import FIT_PER_STYLE, FIT_SEED, GRAM_DIM, STYLE_DIM

__all__ = [
    "ProjectionFit",
    "StyleProjection",
    "block_statistics",
    "fit_style_projection",
    "generated_fit_images",
    "gram_features",
]


def gram_features(fmap: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) → (N, C(C+1)/2): the upper triangle of the Gram matrix ``F Fᵀ / HW``,
    signed square root."""
    n, c = fmap.shape[:2]
    f = fmap.reshape(n, c, -1)
    g = torch.bmm(f, f.transpose(1, 2)) / f.shape[2]
    iu = torch.triu_indices(c, c, device=fmap.device)
    tri = g[:, iu[0], iu[1]]
    return torch.sign(tri) * torch.sqrt(tri.abs() + 1e-12)


def block_statistics(fmap: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) → (N, 2C): per-channel mean, then per-channel standard deviation."""
    f = fmap.flatten(2)
    mean = f.mean(2)
    std = (f.pow(2).mean(2) - mean.pow(2)).clamp_min(0).add(1e-6).sqrt()
    return torch.cat([mean, std], 1)


class StyleProjection(nn.Module):
    """``(gram − mean) @ componentsᵀ``: the PCA of the Gram features, as a graph layer."""

    def __init__(self, mean: np.ndarray, components: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("components", torch.as_tensor(components, dtype=torch.float32))

    def forward(self, gram: torch.Tensor) -> torch.Tensor:
        return (gram - self.mean) @ self.components.T

    @classmethod
    def identity(cls, dim: int = GRAM_DIM, out: int = STYLE_DIM) -> StyleProjection:
        """A placeholder of the right shape (the first ``out`` coordinates): for tests and the
        fitting pass, which needs the graph before the projection exists."""
        comps = np.zeros((out, dim), np.float32)
        comps[np.arange(min(out, dim)), np.arange(min(out, dim))] = 1.0
        return cls(np.zeros(dim, np.float32), comps)


@dataclass(frozen=True)
class ProjectionFit:
    projection: StyleProjection
    n_images: int
    explained_variance: float  # share of the Gram features' variance the kept components hold


def generated_fit_images(per_style: int = FIT_PER_STYLE, size: int = 224) -> list:
    """The project's own paintings, every painter style (demo families, textures, the seven
    WikiArt-named brushwork styles): varied palettes and strokes, no third-party image."""
    from dataset_tools.painter import PAINTERS, paint, painting_rng

    return [paint(style, painting_rng(FIT_SEED, style, i), size) for style in PAINTERS for i in range(per_style)]


@torch.no_grad()
def fit_style_projection(gram_of: nn.Module, batches: list[torch.Tensor], dim: int = STYLE_DIM) -> ProjectionFit:
    """PCA of the Gram features ``gram_of(batch)`` over ``batches`` (preprocessed images)."""
    feats = torch.cat([gram_of(b) for b in batches]).double()
    mean = feats.mean(0)
    centred = feats - mean
    # The covariance route: n images ≪ Gram dimensions would also allow the Gram-matrix
    # trick, but torch's SVD of the (n, d) matrix is exact and takes a second here.
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)
    k = min(dim, vh.shape[0])
    comps = torch.zeros(dim, feats.shape[1], dtype=torch.float64)
    comps[:k] = vh[:k]
    var = s.pow(2)
    explained = float(var[:k].sum() / var.sum().clamp_min(1e-12))
    return ProjectionFit(StyleProjection(mean.float().numpy(), comps.float().numpy()), len(feats), explained)
