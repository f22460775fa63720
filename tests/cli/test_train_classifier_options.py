"""``artsnap train-classifier``'s options for issue 13's classifier: which features the head
reads, the fine-tune flags and the precision machine labels must reach."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend import cli_models
from backend.cli import main
from edge_models.classifier_backbone import get_backbone


def test_every_features_choice_names_a_registered_backbone():
    for name in cli_models._FEATURES.values():
        assert get_backbone(name).name == name
    assert (
        get_backbone(cli_models._FEATURES["multilayer"]).head_width
        > get_backbone(cli_models._FEATURES["pooled"]).head_width
    )


@pytest.mark.parametrize("precision", ["0", "1.5"])
def test_an_impossible_label_precision_is_refused_before_any_work(tmp_path: Path, capsys, precision):
    out = tmp_path / "model"
    rc = main(
        ["--data-dir", str(tmp_path / "data"), "train-classifier", str(tmp_path / "nowhere"), "--out", str(out)]
        + ["--label-precision", precision, "--quiet"]
    )
    assert rc == 2
    assert "--label-precision must be in (0, 1]" in capsys.readouterr().err
    assert not out.exists()


def test_fine_tune_flags_reach_the_training_options(tmp_path: Path, monkeypatch):
    seen = {}

    def fake_train(source, out, options):
        seen["options"] = options
        raise ValueError("stop here")  # the CLI reports it and exits 2

    monkeypatch.setattr("edge_models.train.train_classifier", fake_train)
    rc = main(
        ["--data-dir", str(tmp_path / "data"), "train-classifier", str(tmp_path), "--out", str(tmp_path / "m")]
        + ["--fine-tune", "--fine-tune-blocks", "3", "--fine-tune-epochs", "2", "--features", "pooled", "--quiet"]
    )
    assert rc == 2
    o = seen["options"]
    assert (o.fine_tune, o.fine_tune_blocks, o.fine_tune_epochs, o.backbone) == (True, 3, 2, "efficientnet-lite0")
    assert o.label_precision == 0.9
