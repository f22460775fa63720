"""What the embedding graph's style outputs are made of: block choices and sizes, torch-free.

Serving needs the sizes (a descriptor's dimension, a trained head's input) and the embedding
model's cache key needs the recipe, without importing torch; the computation itself is in
:mod:`edge_models.style_statistics`.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "FIT_PER_STYLE",
    "FIT_SEED",
    "GRAM_DIM",
    "HEAD_CHANNELS",
    "LAYERS_DIM",
    "STAT_BLOCKS",
    "STAT_DIM",
    "STYLE_BLOCKS",
    "STYLE_DIM",
    "style_recipe",
]

#: Blocks (0-based, of EfficientNet-Lite0's 16 MBConv blocks) whose Gram matrices make the
#: style statistics: the last block at 28 px (40 channels) and the last blocks at 14 px
#: (80 and 112 channels). Earlier blocks see mostly edges, later ones mostly objects.
STYLE_BLOCKS = (7, 10)
#: Blocks whose channel means and deviations go into ``layers`` (the end of each stage).
STAT_BLOCKS = (2, 4, 7, 10, 14, 15)
#: Principal components kept for the ``style`` descriptor.
STYLE_DIM = 256
#: Channels at the output of each block of EfficientNet-Lite0 and of its 1x1 head conv.
_BLOCK_CHANNELS = (16, 24, 24, 40, 40, 80, 80, 80, 112, 112, 112, 192, 192, 192, 192, 320)
HEAD_CHANNELS = 1280
GRAM_DIM = sum(_BLOCK_CHANNELS[b] * (_BLOCK_CHANNELS[b] + 1) // 2 for b in STYLE_BLOCKS)
#: Per-channel means and deviations of STAT_BLOCKS and of the head conv.
STAT_DIM = 2 * (sum(_BLOCK_CHANNELS[b] for b in STAT_BLOCKS) + HEAD_CHANNELS)
#: The ``layers`` output: the statistics, then the raw Gram features (a trained head fits its
#: own projection on the curator's collection: measured better than reusing the generic one).
LAYERS_DIM = STAT_DIM + GRAM_DIM


#: How many generated pictures of each painter style the projection is fitted on, and the
#: stream they are painted from (part of the embedding model's cache key).
FIT_PER_STYLE = 24
FIT_SEED = "style-projection-v1"


def style_recipe() -> dict[str, Any]:
    """Everything that decides the style outputs, for the embedding model's cache key."""
    return {
        "style_blocks": list(STYLE_BLOCKS),
        "stat_blocks": list(STAT_BLOCKS),
        "style_dim": STYLE_DIM,
        "fit": [FIT_SEED, FIT_PER_STYLE],
    }
