"""The Core ML packages normalise the pixels once, as the card says, and say who made them.

Core ML cannot run on Linux, so the packages are read: their ML Program's ops are walked from
the image input, every element-wise scale and bias composed, and the result compared with the
card's ``(pixel - mean) / std``. Then the torch module is fed pixels transformed by those very
numbers and must give the reference answers. (A package that scaled twice, as coremltools'
second conversion did, maps pixels into [-1.000, -0.984] and answers one label for everything.)
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from edge_models.export_coreml import image_affine
from edge_models.model_card import ModelCard
from edge_models.model_dir import read_sample_images
from edge_models.trained import load_trained

COREML_KEYS = ("coreml_fp16", "coreml_int8")


def _spec(path):
    import coremltools as ct

    return ct.utils.load_spec(str(path))


@pytest.mark.parametrize("key", COREML_KEYS)
def test_program_applies_the_cards_normalisation_once(exported, key):
    card = ModelCard.load(exported.card_path)
    spec = _spec(exported.files[key])
    assert spec.description.input[0].type.WhichOneof("Type") == "imageType"
    walked = image_affine(spec, "image")
    mean, std = np.asarray(card.preprocessing.mean), np.asarray(card.preprocessing.std)
    assert card.preprocessing.color_order == "RGB"
    assert np.allclose(walked["scale"], 1 / std, rtol=1e-3), walked
    assert np.allclose(walked["offset"], -mean / std, atol=2e-3), walked
    assert walked["ops"].count("mul") == 1 and walked["ops"].count("add") == 1, walked["ops"]
    assert walked["stopped_at"] == "conv"  # the network's first layer, straight after


@pytest.mark.parametrize("key", COREML_KEYS)
def test_torch_on_the_packages_own_preprocessing_matches_the_reference(trained, exported, key):
    _, result = trained
    model = load_trained(result.model_dir)
    spec = model.config.spec
    walked = image_affine(_spec(exported.files[key]), "image")
    images = read_sample_images(result.model_dir / "samples" / "parity.zip")
    pixels = np.stack([np.asarray(spec.resize_and_crop(im), np.float32) for im in images])  # RGB, 0-255
    as_coreml = (pixels * np.float32(walked["scale"]) + np.float32(walked["offset"])).transpose(0, 3, 1, 2)
    assert as_coreml.min() < -0.5 and as_coreml.max() > 0.5  # the whole normalised range, not a sliver
    with torch.no_grad():
        ref_p, ref_e = model.net(torch.from_numpy(spec.to_batch(images)))
        got_p, got_e = model.net(torch.from_numpy(np.ascontiguousarray(as_coreml, np.float32)))
    assert torch.equal(got_p.argmax(1), ref_p.argmax(1))
    assert (got_p - ref_p).abs().max() <= 1e-4 and (got_e - ref_e).abs().max() <= 1e-4
    # ... and the export's own parity check ran the same comparison and passed
    simulated = exported.parity.coreml[key].preprocessing_in_torch
    assert simulated is not None and simulated.passed and simulated.top1_agreement == 1.0


def test_parity_check_fails_a_package_that_normalises_twice(trained, exported):
    from edge_models.parity import _coreml_preprocessing_in_torch

    _, result = trained
    model = load_trained(result.model_dir)
    images = read_sample_images(result.model_dir / "samples" / "parity.zip")
    twice = {"scale": [1 / 128 / 128] * 3, "offset": [-127 / 128 / 128 - 127 / 128] * 3}
    check = _coreml_preprocessing_in_torch(model.net, images, model.config, twice, "coreml_fp16")
    assert not check.passed and check.max_abs_diff_embedding > 0.01


@pytest.mark.parametrize("key", COREML_KEYS)
def test_packages_carry_licence_author_description_version_and_card(trained, exported, key):
    _, result = trained
    meta = _spec(exported.files[key]).description.metadata
    card = json.loads(meta.userDefined["artsnap.model_card"])
    assert meta.license == "Apache-2.0" == card["license"]
    assert meta.author == "artsnap" == card["author"]
    assert meta.versionString == result.version == card["version"]
    assert result.version in meta.shortDescription and "classifier" in meta.shortDescription
    assert card["labels"] == result.labels and card["preprocessing"]["std"] == [128.0, 128.0, 128.0]
