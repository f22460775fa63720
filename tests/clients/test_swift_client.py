"""The Swift client (issue 11, defect 4) against what the server really delivers to an iPhone.

No Swift toolchain runs on Linux, so the Swift file cannot be compiled or run here. These tests
keep it from drifting away from the model and the API: every Core ML feature name it uses must
be in the spec of the .mlpackage that ``/v1/models/latest?platform=ios`` hands out (read with
coremltools), every JSON key it decodes must be in that answer, and it must verify the SHA-256,
take the embedding from a plain MLModel prediction and answer top-1 like the other clients.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from typing import Any

import pytest

from tests.clients.support import REPO

SWIFT = REPO / "mobile_sdk_stubs" / "swift" / "ArtsnapClient.swift"


def _code(src: str) -> str:
    """The Swift source without comments (so a test never passes on a comment)."""
    return "\n".join(re.sub(r"//.*$", "", line) for line in src.splitlines())


def _coding_keys(code: str) -> dict[str, list[str]]:
    """struct name -> the JSON keys its CodingKeys enum decodes (the enum follows its struct's properties)."""
    out: dict[str, list[str]] = {}
    struct = None
    for m in re.finditer(r"struct (\w+)|enum CodingKeys: String, CodingKey \{([^}]*)\}", code):
        if m.group(1):
            struct = m.group(1)
            continue
        keys = []
        for case in re.findall(r"case ([^\n]+)", m.group(2)):
            for item in case.split(","):
                name, _, raw = item.partition("=")
                keys.append(raw.strip().strip('"') if raw else name.strip())
        assert struct is not None
        out[struct] = keys
    return out


@pytest.fixture(scope="module")
def ios_delivery(tiny_phone_model, tmp_path_factory: pytest.TempPathFactory, models_dir, embedding_model):
    """The answer of /v1/models/latest?platform=ios and the spec of the .mlpackage it delivers."""
    ct = pytest.importorskip("coremltools")
    from backend.api import create_app
    from backend.config import Settings
    from backend.engine.model_registry import register_model_dir, store_dir
    from tests.conftest import _link_models

    _, result = tiny_phone_model
    data_dir = tmp_path_factory.mktemp("swift-server")
    _link_models(data_dir, models_dir)
    app = create_app(Settings(data_dir=data_dir))
    try:
        register_model_dir(app.extensions["artsnap.engine"].catalog, result.model_dir, store=store_dir(data_dir))
        c = app.test_client()
        latest: dict[str, Any] = c.get("/v1/models/latest?platform=ios").get_json()
        archive = tmp_path_factory.mktemp("ios") / latest["delivery"]["name"]
        archive.write_bytes(c.get(latest["delivery"]["url"]).data)
        doc = c.get("/openapi.json").get_json()
    finally:
        app.extensions["artsnap.engine"].close()
    unpacked = archive.with_suffix("")
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(unpacked.parent / "unpacked")
    package = next((unpacked.parent / "unpacked").rglob("*.mlpackage"))
    spec = ct.utils.load_spec(str(package))
    yield latest, spec, doc
    shutil.rmtree(unpacked.parent / "unpacked", ignore_errors=True)


def test_feature_names_are_the_delivered_core_ml_models(ios_delivery) -> None:
    latest, spec, _ = ios_delivery
    code = _code(SWIFT.read_text())
    inputs = {i.name: i for i in spec.description.input}
    outputs = {o.name for o in spec.description.output}
    assert latest["delivery"]["format"] == "coreml"

    used_inputs = set(re.findall(r'inputDescriptionsByName\["(\w+)"\]', code))
    provided = set(re.findall(r'"(\w+)": try MLFeatureValue\(cgImage:', code))
    assert used_inputs == provided == set(inputs), (used_inputs, provided, set(inputs))
    (image,) = inputs.values()
    assert image.type.WhichOneof("Type") == "imageType"
    assert image.type.imageType.width == latest["card"]["preprocessing"]["input_size"]

    read = set(re.findall(r'featureValue\(for: "(\w+)"\)', code))
    # A single-label export's classifier outputs, plus the multi-label file's probabilities output.
    multi_label_outputs = {latest["card"]["outputs"][0]["name"]}
    assert read <= outputs | multi_label_outputs, read - outputs - multi_label_outputs
    assert {spec.description.predictedProbabilitiesName, "embedding"} <= read
    assert "embedding" in outputs


def test_json_keys_are_in_what_the_server_answers(ios_delivery) -> None:
    latest, _, doc = ios_delivery
    keys = _coding_keys(_code(SWIFT.read_text()))
    where = {
        "ArtsnapModel": latest,
        "ArtsnapModelFile": latest["delivery"],
        "Preprocessing": latest["card"]["preprocessing"],
        "Extra": latest["card"]["extra"],
        "ArtsnapHit": doc["components"]["schemas"]["Hit"]["properties"],
    }
    assert set(keys) == set(where), set(keys) ^ set(where)
    for struct, names in keys.items():
        missing = [k for k in names if k not in where[struct]]
        assert not missing, f"{struct} decodes {missing}, which the server does not send"
    code = _code(SWIFT.read_text())
    # ArtsnapCard decodes by property name (no CodingKeys): its own top-level properties.
    card_block = code[code.index("struct ArtsnapCard") : code.index("struct ArtsnapModel:")]
    card_props = set(re.findall(r"^    public let (\w+)", card_block, re.M))
    assert card_props == {"labels", "preprocessing", "extra"} and card_props <= set(latest["card"])
    response_block = code[code.index("struct ArtsnapSearchResponse") :]
    response_props = re.findall(r"public let (\w+)", response_block[: response_block.index("}")])
    assert set(response_props) <= set(doc["components"]["schemas"]["SearchResponse"]["properties"])
    assert '"embedding_space"' in code and '"platform", value: "ios"' in code
    assert latest["embedding_space"] and latest["delivery"]["sha256"]


def test_download_is_verified_labels_are_top1_and_the_embedding_comes_from_mlmodel() -> None:
    code = _code(SWIFT.read_text())
    # SHA-256 of the downloaded archive, compared with the delivery's, before unzip and compile.
    verify = code.index("SHA256()")
    assert code.index("got == expected") < code.index("unzip(archive") < code.index("MLModel.compileModel")
    assert verify and "checksumMismatch" in code
    # A plain MLModel prediction for labels and embedding; no Vision request, no top-3.
    assert "model.prediction(from:" in code and "VNCoreMLRequest" not in code and "prefix(3)" not in code
    assert re.search(r"return \[ArtsnapLabel\(name: card\.labels\[best\]", code)
    assert "abstainThreshold" in code and ".applyOrientationProperty: true" in code
    assert "lanczosScaleTransform" in code and "kCGImageSourceCreateThumbnailWithTransform" in code
    assert "uploadMaxSide = 1024" in code
    assert "async throws" in code and "DispatchSemaphore" not in code
