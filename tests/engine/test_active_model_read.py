"""Which embedding model serves is read from the catalog on every request, on SQLite and
PostgreSQL alike (the read pulls one field out of the model card's JSON)."""

from __future__ import annotations

import pytest

from backend.engine.catalog.store import Catalog
from backend.engine.model_spaces import ModelSpaces, ServingModel
from edge_models.embedding_variants import DEFAULT_EMBEDDING_MODEL


def _spaces(url: str) -> ModelSpaces:
    def build(model: str):  # never called: these tests only read the serving choice
        raise AssertionError(model)

    return ModelSpaces(Catalog(url), build)


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    return str(request.getfixturevalue("postgres_url"))


def test_the_serving_model_follows_each_activation_and_remembers_the_previous_one(catalog_url: str) -> None:
    spaces = _spaces(catalog_url)
    try:
        assert spaces.serving_model() == ServingModel(DEFAULT_EMBEDDING_MODEL)
        spaces.activate("lite1", version="1", previous=DEFAULT_EMBEDDING_MODEL, card={"dim": 1280})
        assert spaces.serving_model() == ServingModel("lite1", DEFAULT_EMBEDDING_MODEL)
        spaces.activate(DEFAULT_EMBEDDING_MODEL, version="2", previous=None, card={})
        assert spaces.serving_model() == ServingModel(DEFAULT_EMBEDDING_MODEL, None)
        # another task's active model is not the embedding's
        spaces.catalog.register_model("style-clf", "1", "classifier", {"previous": "x"}, None, activate=True)
        assert spaces.serving_model().model == DEFAULT_EMBEDDING_MODEL
    finally:
        spaces.catalog.close()
