"""The Python reference client behaves as the Kotlin and Swift ones (issue 11, point 3 of "clients").

Asynchronous calls, the platform's delivery revalidated with its ETag, photos turned upright
from EXIF and uploaded at most 1 024 px, top-1 with the card's abstain threshold, and vector
searches that carry their embedding space.
"""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image

from tests.clients.support import COLLECTION

pytest.importorskip("ai_edge_litert", reason="ai-edge-litert is needed to run .tflite files")


class RecordingSession(requests.Session):
    """A real requests session that remembers each answer's status and request size."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, int, int]] = []

    def request(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def]  # requests' own signature
        resp = super().request(method, url, *args, **kwargs)
        body = resp.request.body or b""
        self.seen.append((resp.request.path_url, resp.status_code, len(body)))
        return resp


def test_calls_are_coroutines_and_latest_is_revalidated_with_its_etag(server) -> None:
    from mobile_sdk_stubs import ArtsnapClient

    session = RecordingSession()
    sdk = ArtsnapClient(server["url"], session=session)
    call = sdk.latest_model("ios")
    assert asyncio.iscoroutine(call)
    first = asyncio.run(call)
    again = asyncio.run(sdk.latest_model("ios"))
    assert again == first and first["delivery"]["key"] == "coreml_fp16"
    assert [status for _, status, _ in session.seen] == [200, 304]


def test_photos_are_uploaded_upright_and_at_most_1024_px(server, photo) -> None:
    from mobile_sdk_stubs import ArtsnapClient
    from mobile_sdk_stubs.photos import prepare_upload

    path, upright = photo
    sent = Image.open(io.BytesIO(prepare_upload(path)))
    assert sent.size == (768, 1024)
    expected = upright.resize(sent.size, Image.Resampling.BILINEAR, reducing_gap=3.0)
    assert np.abs(np.asarray(sent, np.float32) - np.asarray(expected, np.float32)).mean() < 3
    session = RecordingSession()
    body = asyncio.run(ArtsnapClient(server["url"], session=session).search_photo(COLLECTION, path, top_k=3))
    assert body["results"]
    ((_, status, size),) = session.seen
    assert status == 200 and size < path.stat().st_size / 4  # a 12 MP photo is not sent as is


def test_on_device_labels_are_top1_over_the_abstain_threshold_on_upright_photos(server, photo, tmp_path: Path) -> None:
    from mobile_sdk_stubs import ArtsnapClient, OnDeviceModel

    path, upright = photo
    dl = asyncio.run(ArtsnapClient(server["url"]).download_model(tmp_path, platform="android", precision="fp32"))
    model = OnDeviceModel.load(dl.path)
    from_file = model.predict(path)  # stored sideways with EXIF 6
    assert np.allclose(
        model.predict(upright).probabilities[model.labels[0]], from_file.probabilities[model.labels[0]], atol=0.02
    )
    assert len(from_file.labels) <= 1
    top = max(from_file.probabilities.items(), key=lambda kv: kv[1])
    strict = {**model.card, "extra": {**model.card["extra"], "multi_label": False, "abstain_threshold": top[1] + 0.01}}
    lenient = {**model.card, "extra": {**model.card["extra"], "multi_label": False, "abstain_threshold": top[1] - 0.01}}
    assert OnDeviceModel.load(dl.path, strict).predict(path).labels == []
    assert [n for n, _ in OnDeviceModel.load(dl.path, lenient).predict(path).labels] == [top[0]]
    assert json.loads((dl.path.parent / "model_card.json").read_text())["embedding_space"] == model.embedding_space


def test_vector_searches_carry_their_space(server, photo, tmp_path: Path) -> None:
    from backend.engine.embedding_space import server_space
    from mobile_sdk_stubs import ArtsnapClient, ArtsnapError, OnDeviceModel

    path, upright = photo
    sdk = ArtsnapClient(server["url"])
    dl = asyncio.run(sdk.download_model(tmp_path, platform="android"))
    phone = OnDeviceModel.load(dl.path).predict(path)
    with pytest.raises(ArtsnapError) as foreign:
        asyncio.run(sdk.search_embedding(COLLECTION, phone.embedding, embedding_space=dl.embedding_space))
    assert foreign.value.status == 409 and foreign.value.code == "foreign_embedding_space"
    vec = server["app"].extensions["artsnap.engine"].descriptors["cnn"].describe([upright])[0]
    ok = asyncio.run(sdk.search_embedding(COLLECTION, vec, embedding_space=server_space(), top_k=3))
    assert len(ok["results"]) == 3
