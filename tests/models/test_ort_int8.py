"""The int8 ONNX Runtime embedding network: built from the real fp32 export, close to it, cached.

Slow (quantising the real network takes a minute on 2 cores), so it runs with ``-m slow``;
``benchmarks/int8_embed.py`` measures its speed and retrieval loss on real images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_int8_model_embeds_close_to_fp32_and_is_built_once(tmp_path: Path, embedding_model) -> None:
    from dataset_tools.demo import paint
    from edge_models.ort_int8 import quantize_embedding_model
    from edge_models.runtime import OnnxModel

    spec = embedding_model.card.preprocessing
    images = [paint(family, i, size=224) for family in ("mondrian", "seascape", "ink_wash") for i in range(4)]
    x = spec.to_batch(images)
    path = quantize_embedding_model(embedding_model.path, tmp_path, x[:8])
    assert path.exists() and path.stat().st_size < embedding_model.path.stat().st_size / 2
    int8 = OnnxModel.load(path, embedding_model.card)
    e32 = embedding_model.run(x[8:])["embedding"]
    e8 = int8.run(x[8:])["embedding"]
    e32 /= np.linalg.norm(e32, axis=1, keepdims=True)
    e8 /= np.linalg.norm(e8, axis=1, keepdims=True)
    assert (e32 * e8).sum(1).min() > 0.9  # a close function, but not the same one
    assert not np.allclose(e32, e8, atol=1e-3)
    mtime = path.stat().st_mtime
    assert quantize_embedding_model(embedding_model.path, tmp_path, x[:8]) == path
    assert path.stat().st_mtime == mtime  # cached: not quantised again
