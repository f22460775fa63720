"""int8 recipes: which ones share a file, and that a recipe's kernel options reach the session.

The measured effect of each recipe (speed, cosine, recall@10 against fp32) is in
``benchmarks/int8_embed.py``; quantising the real network is tested in ``test_ort_int8.py`` (slow).
"""

from __future__ import annotations

import pytest

from edge_models.ort_int8 import DEFAULT_RECIPE, RECIPES


def test_precise_kernels_reuse_the_fast_recipe_file_and_other_recipes_get_their_own() -> None:
    keys = {name: repr(sorted(r.file_key().items())) for name, r in RECIPES.items()}
    assert keys["u8s8-precise"] == keys["u8s8"]  # only the session differs: one file, one calibration
    assert len({keys["u8s8"], keys["u8s8-7bit"], keys["u8u8"]}) == 3


def test_default_recipe_loads_with_non_saturating_kernels(embedding_model) -> None:
    from edge_models.ort_int8 import load_int8_model

    # The fp32 file stands in for an int8 one: what matters is the session the recipe builds.
    model = load_int8_model(embedding_model.path, embedding_model.card, recipe=DEFAULT_RECIPE)
    options = model.session.get_session_options()
    assert options.get_session_config_entry("session.x64quantprecision") == "1"
    fast = load_int8_model(embedding_model.path, embedding_model.card, recipe=RECIPES["u8s8"])
    with pytest.raises(RuntimeError, match="does not have configuration"):
        fast.session.get_session_options().get_session_config_entry("session.x64quantprecision")
