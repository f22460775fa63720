"""The int8 ONNX Runtime embedding network: built from the real fp32 export, close to it, cached.

Slow (quantising the real network takes a minute on 2 cores), so it runs with ``-m slow``;
``benchmarks/int8_embed.py`` measures each recipe's speed and retrieval loss on real images.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def _wikiart_batch(wikiart_zip: Path, spec, n: int) -> np.ndarray:
    from dataset_tools.images import decode_image

    with zipfile.ZipFile(wikiart_zip) as z:
        names = sorted(m for m in z.namelist() if m.lower().endswith(".jpg") and "_dup" not in m)
        picked = names[:: max(1, len(names) // n)][:n]  # spread over the styles
        return spec.to_batch([decode_image(z.read(m), min_side=224).image for m in picked])


def test_int8_model_embeds_close_to_fp32_on_paintings_and_is_built_once(
    tmp_path: Path, embedding_model, wikiart_zip: Path
) -> None:
    """The default recipe stays close to fp32 on every painting, also on AVX2 CPUs without VNNI.

    The saturating uint8 × int8 AVX2 kernels gave some paintings a cosine to fp32 near 0.5; the
    default recipe's session options keep every painting close.
    """
    from edge_models.ort_int8 import DEFAULT_RECIPE, load_int8_model, quantize_embedding_model

    x = _wikiart_batch(wikiart_zip, embedding_model.card.preprocessing, 40)
    path = quantize_embedding_model(embedding_model.path, tmp_path, x[:16])
    assert path.exists() and path.stat().st_size < 0.6 * embedding_model.path.stat().st_size  # logits head float
    int8 = load_int8_model(path, embedding_model.card, recipe=DEFAULT_RECIPE)
    e32 = embedding_model.run(x[16:])["embedding"]
    e8 = int8.run(x[16:])["embedding"]
    e32 /= np.linalg.norm(e32, axis=1, keepdims=True)
    e8 /= np.linalg.norm(e8, axis=1, keepdims=True)
    cos = (e32 * e8).sum(1)
    assert cos.min() > 0.98 and cos.mean() > 0.995, (cos.min(), cos.mean())
    assert not np.allclose(e32, e8, atol=1e-3)  # a close function, but not the same one
    mtime = path.stat().st_mtime
    assert quantize_embedding_model(embedding_model.path, tmp_path, x[:16]) == path
    assert path.stat().st_mtime == mtime  # cached: not quantised again
