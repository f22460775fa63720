"""Golden embeddings: the served model's vectors for fixed pictures, and the spec's exact numbers.

A channel-order or normalisation mistake in preprocessing does not crash anything: vectors
stay unit length and search still "works", only worse (a real-image check that scored 0.455
against its 0.45 floor let a BGR swap through). These tests pin both with fixed pictures
drawn on every clone (``tests/models/golden_images.py``), against vectors recorded for one
model version. See that module for how to regenerate them when the model changes on purpose.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from PIL import Image

from edge_models.embedding_model import embedding_cache_key
from edge_models.preprocessing import DEFAULT_SPEC
from tests.models.golden_images import DISCS, compute, golden_images, load_goldens

#: float16 storage keeps cosine ≥ 0.99999; a BGR swap gives 0.75–0.92 on these pictures and a
#: torchvision-style mean/std 0.82–0.91, so anything below this is a different model or input.
MIN_COSINE = 0.995
TORCHVISION_NORMALISATION = dict(mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375))


def test_normalised_input_keeps_rgb_order_and_the_efficientnet_lite_mean_and_std() -> None:
    """Channel 0 is red, 2 is blue, each (pixel − 127) / 128 (TensorFlow's EfficientNet-Lite)."""
    colour = (10, 100, 200)  # three different values, so any permutation or offset shows
    arr = DEFAULT_SPEC.to_array(Image.new("RGB", (300, 240), colour))
    assert arr.shape == (3, 224, 224) and arr.dtype == np.float32
    for channel, value in enumerate(colour):
        np.testing.assert_allclose(arr[channel], (value - 127.0) / 128.0, atol=1e-6, err_msg=f"channel {channel}")
    batch = DEFAULT_SPEC.to_batch(
        [Image.new("RGB", (224, 224), (255, 0, 0)), Image.new("RGB", (224, 224), (0, 0, 255))]
    )
    red, blue = batch[:, :, 112, 112]
    np.testing.assert_allclose(red, [1.0, -127 / 128, -127 / 128], atol=1e-6)  # red is channel 0
    np.testing.assert_allclose(blue, [-127 / 128, -127 / 128, 1.0], atol=1e-6)
    assert DEFAULT_SPEC.color_order == "RGB" and DEFAULT_SPEC.layout == "NCHW"


def test_served_model_embeds_the_golden_pictures_as_recorded(embedding_model) -> None:
    meta, golden = load_goldens()
    assert meta["images"] == list(DISCS), "golden files and golden_images.DISCS disagree: regenerate"
    emb, logits = compute(embedding_model)  # through the card's spec, as the server embeds
    cosines = {name: float(e @ g) for name, e, g in zip(DISCS, emb, golden)}
    moved = {name: round(c, 3) for name, c in cosines.items() if c < MIN_COSINE}
    assert not moved, (
        f"embeddings moved away from the goldens of model {meta['model_version']} (cosine {moved}): "
        "channel order, mean/std, resize or weights changed. If the model changed on purpose, "
        f"regenerate: {meta['regenerate']}"
    )
    top1 = {name: int(row.argmax()) for name, row in zip(DISCS, logits)}
    assert top1 == {name: top5[0] for name, top5 in meta["top5"].items()}, top1
    # What the ImageNet head sees is not just recorded, it is right: an orange, a lemon, an apple.
    assert {n: top1[n] for n, (_, cls) in DISCS.items() if cls is not None} == {
        n: cls for n, (_, cls) in DISCS.items() if cls is not None
    }
    # The goldens belong to one model version; a new version needs new goldens (see above).
    assert embedding_cache_key() == meta["model_version"], (
        f"the served model is {embedding_cache_key()} but the goldens were recorded for "
        f"{meta['model_version']}; regenerate them: {meta['regenerate']}"
    )


def test_the_goldens_would_catch_a_channel_swap_or_a_wrong_normalisation(embedding_model) -> None:
    """The control: the same pictures with red and blue swapped, or normalised with ImageNet's
    torchvision mean/std, land far from the goldens and are seen as other things."""
    _, golden = load_goldens()
    spec = embedding_model.card.preprocessing
    images = list(golden_images().values())
    batch = spec.to_batch(images)
    swapped = embedding_model.run(np.ascontiguousarray(batch[:, ::-1]))
    wrong_norm = embedding_model.run(replace(spec, **TORCHVISION_NORMALISATION).to_batch(images))
    for name, out in (("BGR", swapped), ("torchvision mean/std", wrong_norm)):
        cos = np.sum(out["embedding"] * golden, axis=1)
        assert cos.max() < 0.95, (name, cos.round(3).tolist())
    seen_swapped = dict(zip(DISCS, swapped["logits"].argmax(1).tolist()))
    assert all(seen_swapped[name] != cls for name, (_, cls) in DISCS.items() if cls is not None), seen_swapped
