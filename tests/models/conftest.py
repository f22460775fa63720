"""The tiny trained and exported classifier, shared by the model tests (one export per session:
it writes every file and runs every parity check, about a minute on two cores)."""

from __future__ import annotations

import pytest

from dataset_tools.synthetic_styles import write_style_folder
from edge_models.export import export_models
from edge_models.train import TrainingOptions, train_classifier
from tests.models.edge_support import TINY_BACKBONE, register_tiny_backbone


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory):
    register_tiny_backbone()
    root = tmp_path_factory.mktemp("edge")
    coll = write_style_folder(root / "styles", per_class=24, seed=1)
    result = train_classifier(
        coll.root,
        root / "model",
        TrainingOptions(
            cache_dir=root / "cache",
            backbone=TINY_BACKBONE,
            learning_curve=True,
            progress=False,
            epochs=80,
            aug_views=1,
        ),
    )
    return coll, result


@pytest.fixture(scope="session")
def exported(trained):
    _, result = trained
    return export_models(result.model_dir, progress=False)
