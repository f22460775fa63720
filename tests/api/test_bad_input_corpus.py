"""The bad-input corpus: every malformed, hostile or nonsensical request answers a 4xx with the
``{"error": {"code", "message"}}`` shape, and the server keeps serving.

Each case is one request a client (or an attacker, or a fuzzer) could send. The whole corpus
also runs in one go against one app, followed by a normal search that must still work.
"""

from __future__ import annotations

import io
import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from backend.api import create_app
from backend.config import Settings
from backend.engine.embedding_space import server_space
from tests.conftest import flat_png

SPACE = server_space()  # vectors name their embedding space (issue 11)

MAX_UPLOAD = 2 * 1024 * 1024
HUGE_ID = "99999999999999999999999"  # past 64 bits
DIM = 1280  # the CNN embedding's length


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, demo_data_dir: Path):
    data = tmp_path_factory.mktemp("corpus") / "data"
    shutil.copytree(demo_data_dir, data, symlinks=True)
    app = create_app(Settings(data_dir=data, max_upload_bytes=MAX_UPLOAD))
    yield app
    app.extensions["artsnap.engine"].close()


@pytest.fixture(scope="module")
def query_jpeg(demo_source) -> bytes:
    return (Path(demo_source.out_dir) / "ink_wash/ink_wash_0002.jpg").read_bytes()


def _encode(img: Image.Image, fmt: str, **kw: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def search_multipart(c, image: bytes | None, options: str | None = None, collection: str = "demo"):
    data: dict[str, Any] = {}
    if image is not None:
        data["image"] = (io.BytesIO(image), "q.jpg")
    if options is not None:
        data["options"] = options
    return c.post(f"/v1/collections/{collection}/search", data=data, content_type="multipart/form-data")


def search_json(c, text: str | bytes, content_type: str = "application/json"):
    return c.post("/v1/collections/demo/search", data=text, content_type=content_type)


def search_vector(c, embedding: object):
    """A well-formed vector request (its space named) whose ``embedding`` is what is under test."""
    return c.post("/v1/collections/demo/search", json={"embedding": embedding, "embedding_space": SPACE})


def embedding_text(values: str = "0.01", *, options: str = "{}") -> str:
    """A JSON body with an embedding written as raw text (so non-JSON numbers can be sent)."""
    return '{"embedding": [' + ", ".join([values] * DIM) + '], "options": ' + options + "}"


def add_item(c, image: bytes, **form: str):
    return c.post("/v1/collections/demo/items", data={"image": (io.BytesIO(image), "a.jpg"), **form})


# name: (request, expected status, expected code or None)
Case = tuple[Callable[[Any, bytes], Any], int, str | None]
CASES: dict[str, Case] = {
    # --- images: broken, hostile, wrong kind -------------------------------------------------
    "empty image": (lambda c, q: search_multipart(c, b""), 400, "empty"),
    "truncated jpeg": (lambda c, q: search_multipart(c, q[: len(q) // 3]), 400, "truncated"),
    "jpeg header only": (lambda c, q: search_multipart(c, q[:20]), 400, "truncated"),
    "truncated png": (
        lambda c, q: search_multipart(c, _encode(Image.new("RGB", (64, 64), (9, 9, 9)), "PNG")[:60]),
        400,
        "truncated",
    ),
    "random bytes": (lambda c, q: search_multipart(c, bytes(range(256)) * 20), 400, "not_an_image"),
    "html disguised as jpeg": (
        lambda c, q: search_multipart(c, b"<html><script>alert(1)</script></html>"),
        400,
        "not_an_image",
    ),
    "pdf": (lambda c, q: search_multipart(c, b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n"), 400, "not_an_image"),
    "gif": (
        lambda c, q: search_multipart(c, _encode(Image.new("P", (32, 32)), "GIF")),
        415,
        "unsupported_format",
    ),
    "bmp": (lambda c, q: search_multipart(c, _encode(Image.new("RGB", (32, 32)), "BMP")), 415, "unsupported_format"),
    "tiff": (
        lambda c, q: search_multipart(c, _encode(Image.new("RGB", (32, 32)), "TIFF")),
        415,
        "unsupported_format",
    ),
    "heic": (
        lambda c, q: search_multipart(c, b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64),
        415,
        "unsupported_format",
    ),
    "decompression bomb (30000x30000 header)": (
        lambda c, q: search_multipart(c, flat_png(30000, 30000, b"\x00", colour_type=0)),
        413,
        "too_large",
    ),
    "20000x1 png (141 bytes)": (
        lambda c, q: search_multipart(c, flat_png(20000, 1, b"\xc8", colour_type=0)),
        400,
        "bad_dimensions",
    ),
    "1x1 png": (lambda c, q: search_multipart(c, _encode(Image.new("RGB", (1, 1)), "PNG")), 400, "bad_dimensions"),
    "8000x8000 rgba png (265 KB)": (
        lambda c, q: search_multipart(c, flat_png(8000, 8000, b"\xc8\x64\x32\x80", colour_type=6)),
        413,
        "too_large",
    ),
    "upload over the body limit": (
        lambda c, q: search_multipart(c, b"\xff\xd8\xff" + b"\x00" * (MAX_UPLOAD + 10)),
        413,
        "too_large",
    ),
    "image field is text, not a file": (
        lambda c, q: c.post(
            "/v1/collections/demo/search", data={"image": "not a file"}, content_type="multipart/form-data"
        ),
        400,
        "missing_image",
    ),
    "no image and no embedding": (lambda c, q: search_multipart(c, None, options="{}"), 400, "missing_image"),
    # --- content types ------------------------------------------------------------------------
    "raw jpeg body": (lambda c, q: search_json(c, q, "image/jpeg"), 415, "unsupported_media_type"),
    "text body": (lambda c, q: search_json(c, "hello", "text/plain"), 415, "unsupported_media_type"),
    "form-urlencoded body": (
        lambda c, q: search_json(c, "embedding=1", "application/x-www-form-urlencoded"),
        415,
        "unsupported_media_type",
    ),
    "no content type": (lambda c, q: c.post("/v1/collections/demo/search", data=b"{}"), 415, None),
    # --- bad JSON -----------------------------------------------------------------------------
    "invalid json": (lambda c, q: search_json(c, "{"), 400, "bad_json"),
    "json array body": (lambda c, q: search_json(c, "[1, 2]"), 400, "bad_json"),
    "json null body": (lambda c, q: search_json(c, "null"), 400, "bad_json"),
    "not utf-8": (lambda c, q: search_json(c, b'{"embedding": "\xff\xfe"}'), 400, "bad_json"),
    "json nested 100 000 deep": (lambda c, q: search_json(c, "[" * 100_000 + "]" * 100_000), 400, "bad_json"),
    "objects nested 100 000 deep": (
        lambda c, q: search_json(c, '{"a":' * 100_000 + "1" + "}" * 100_000),
        400,
        "bad_json",
    ),
    "options nested 100 000 deep": (
        lambda c, q: search_multipart(c, q, options="[" * 100_000 + "]" * 100_000),
        400,
        "bad_json",
    ),
    "json body over 1 MB": (lambda c, q: search_json(c, '{"embedding": [' + "0," * 600_000 + "0]}"), 413, "too_large"),
    "bad json in options": (lambda c, q: search_multipart(c, q, options="{top_k: 3"), 400, "bad_json"),
    # --- missing fields and wrong types ---------------------------------------------------------
    "json without embedding": (lambda c, q: search_json(c, '{"options": {}}'), 400, "missing_field"),
    "options not an object": (lambda c, q: search_multipart(c, q, options="[1]"), 400, "bad_options"),
    "unknown option": (lambda c, q: search_multipart(c, q, options='{"topk": 3}'), 400, "bad_options"),
    "top_k zero": (lambda c, q: search_multipart(c, q, options='{"top_k": 0}'), 400, "bad_options"),
    "top_k huge": (lambda c, q: search_multipart(c, q, options='{"top_k": 1000000}'), 400, "bad_options"),
    "top_k float": (lambda c, q: search_multipart(c, q, options='{"top_k": 2.5}'), 400, "bad_options"),
    "top_k bool": (lambda c, q: search_multipart(c, q, options='{"top_k": true}'), 400, "bad_options"),
    "top_k string": (lambda c, q: search_multipart(c, q, options='{"top_k": "ten"}'), 400, "bad_options"),
    "weights empty": (lambda c, q: search_multipart(c, q, options='{"weights": {}}'), 400, "bad_options"),
    "weights unknown descriptor": (
        lambda c, q: search_multipart(c, q, options='{"weights": {"sift": 1}}'),
        400,
        "bad_options",
    ),
    "weights negative": (lambda c, q: search_multipart(c, q, options='{"weights": {"cnn": -1}}'), 400, "bad_options"),
    "weights all zero": (lambda c, q: search_multipart(c, q, options='{"weights": {"cnn": 0}}'), 400, "bad_options"),
    "labels not a list": (lambda c, q: search_multipart(c, q, options='{"labels": "x"}'), 400, "bad_options"),
    "label confidence above 1": (
        lambda c, q: search_multipart(c, q, options='{"labels": [{"name": "x", "confidence": 2}]}'),
        400,
        "bad_options",
    ),
    "filters wrong shape": (lambda c, q: search_multipart(c, q, options='{"filters": [1]}'), 400, "bad_options"),
    "locate not a bool": (lambda c, q: search_multipart(c, q, options='{"locate": "yes"}'), 400, "bad_options"),
    "embedding of strings": (lambda c, q: search_json(c, embedding_text('"a"')), 400, "bad_embedding"),
    "embedding of bools": (lambda c, q: search_json(c, embedding_text("true")), 400, "bad_embedding"),
    "embedding is a number": (lambda c, q: search_json(c, '{"embedding": 3}'), 400, "bad_embedding"),
    "embedding is an empty object": (lambda c, q: search_json(c, '{"embedding": {}}'), 400, "bad_embedding"),
    "embedding too short": (lambda c, q: search_vector(c, [0.5, 0.5]), 400, "bad_options"),
    "embedding empty list": (lambda c, q: search_vector(c, []), 400, "bad_options"),
    "embedding all zeros": (lambda c, q: search_vector(c, [0] * DIM), 400, "bad_options"),
    "embedding for an unknown descriptor": (
        lambda c, q: search_json(c, '{"embedding": {"sift": [1, 2]}}'),
        400,
        "bad_options",
    ),
    # --- non-finite numbers everywhere ------------------------------------------------------------
    "weights Infinity": (
        lambda c, q: search_json(c, embedding_text(options='{"weights": {"cnn": Infinity}}')),
        400,
        "bad_json",
    ),
    "weights NaN": (lambda c, q: search_multipart(c, q, options='{"weights": {"cnn": NaN}}'), 400, "bad_json"),
    "weights 1e400": (lambda c, q: search_multipart(c, q, options='{"weights": {"cnn": 1e400}}'), 400, "bad_json"),
    "weights that overflow their sum": (
        lambda c, q: search_multipart(c, q, options='{"weights": {"cnn": 1e308, "color": 1e308}}'),
        400,
        "bad_options",
    ),
    "label confidence NaN": (
        lambda c, q: search_multipart(c, q, options='{"labels": [{"name": "x", "confidence": NaN}]}'),
        400,
        "bad_json",
    ),
    "label_weight -Infinity": (
        lambda c, q: search_multipart(c, q, options='{"label_weight": -Infinity}'),
        400,
        "bad_json",
    ),
    "embedding with NaN": (lambda c, q: search_json(c, embedding_text("NaN")), 400, "bad_json"),
    "embedding with Infinity": (lambda c, q: search_json(c, embedding_text("Infinity")), 400, "bad_json"),
    "embedding with a 10^400 integer": (
        lambda c, q: search_json(c, '{"embedding": [1' + "0" * 400 + ", 1]}"),
        400,
        "bad_json",
    ),
    "embedding with 1e999": (lambda c, q: search_json(c, '{"embedding": [1e999, 1]}'), 400, "bad_json"),
    # --- collections, ids and routes ------------------------------------------------------------
    "unknown collection": (lambda c, q: search_multipart(c, q, collection="no-such"), 404, "unknown_collection"),
    "unknown collection info": (lambda c, q: c.get("/v1/collections/no-such"), 404, "unknown_collection"),
    "unknown item": (lambda c, q: c.get("/v1/items/987654"), 404, "unknown_item"),
    "item id past 64 bits": (lambda c, q: c.get(f"/v1/items/{HUGE_ID}"), 404, "unknown_item"),
    "image of an id past 64 bits": (lambda c, q: c.get(f"/v1/items/{HUGE_ID}/image"), 404, "unknown_item"),
    "thumbnail of an id past 64 bits": (lambda c, q: c.get(f"/v1/items/{HUGE_ID}/thumbnail"), 404, "unknown_item"),
    "related of an id past 64 bits": (lambda c, q: c.get(f"/v1/items/{HUGE_ID}/related"), 404, "unknown_item"),
    "delete an id past 64 bits": (lambda c, q: c.delete(f"/v1/items/{HUGE_ID}"), 404, "unknown_item"),
    "id of exactly 2^63": (lambda c, q: c.get(f"/v1/items/{2**63}"), 404, "unknown_item"),
    "negative id": (lambda c, q: c.get("/v1/items/-1"), 404, "not_found"),
    "id that is not a number": (lambda c, q: c.get("/v1/items/abc"), 404, "not_found"),
    "related top_k not a number": (lambda c, q: c.get("/v1/items/1/related?top_k=lots"), 400, "bad_request"),
    "related top_k out of range": (lambda c, q: c.get("/v1/items/1/related?top_k=0"), 400, "bad_request"),
    "related top_k past 64 bits": (lambda c, q: c.get(f"/v1/items/1/related?top_k={HUGE_ID}"), 400, "bad_request"),
    "delete with an unknown duplicates policy": (
        lambda c, q: c.delete("/v1/items/1?duplicates=keep"),
        400,
        "bad_request",
    ),
    "unknown route": (lambda c, q: c.get("/v1/nothing-here"), 404, "not_found"),
    "wrong method": (lambda c, q: c.get("/v1/collections/demo/search"), 405, "method_not_allowed"),
    "put on an item": (lambda c, q: c.put("/v1/items/1"), 405, "method_not_allowed"),
    "unknown model version": (lambda c, q: c.get("/v1/models/0.0.0-none"), 404, "unknown_model"),
    "no active model for a task": (lambda c, q: c.get("/v1/models/latest?task=nothing"), 404, "no_model"),
    # --- adding items ---------------------------------------------------------------------------
    "add to unknown collection": (
        lambda c, q: c.post("/v1/collections/no-such/items", data={"image": (io.BytesIO(q), "a.jpg")}),
        404,
        "unknown_collection",
    ),
    "add without an image": (
        lambda c, q: c.post("/v1/collections/demo/items", data={"title": "x"}),
        400,
        "missing_image",
    ),
    "add a corrupt image": (lambda c, q: add_item(c, q[:500]), 400, "truncated"),
    "add a 20000x1 png": (lambda c, q: add_item(c, flat_png(20000, 1, b"\xc8", colour_type=0)), 400, "bad_dimensions"),
    "add with labels not a list": (lambda c, q: add_item(c, q, labels='"baroque"'), 400, "bad_labels"),
    "add with labels of numbers": (lambda c, q: add_item(c, q, labels="[1, 2]"), 400, "bad_labels"),
    "add with labels NaN": (lambda c, q: add_item(c, q, labels="[NaN]"), 400, "bad_json"),
    "add with labels nested deep": (lambda c, q: add_item(c, q, labels="[" * 5000 + "]" * 5000), 400, "bad_json"),
    "add with an existing source_path": (
        lambda c, q: add_item(
            c, _encode(Image.new("RGB", (64, 64), (1, 90, 200)), "PNG"), source_path="ink_wash/ink_wash_0002.jpg"
        ),
        409,
        "exists",
    ),
}


def assert_error(resp, status: int, code: str | None) -> dict[str, str]:
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:300])
    assert resp.mimetype == "application/json"
    body = json.loads(resp.get_data(as_text=True), parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    assert resp.headers.get("X-Content-Type-Options") == "nosniff"
    assert "Content-Security-Policy" in resp.headers
    return body["error"]


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_answers_4xx_with_the_error_shape(app, query_jpeg: bytes, case: str) -> None:
    build, status, code = CASES[case]
    assert_error(build(app.test_client(), query_jpeg), status, code)


def test_the_server_keeps_serving_after_the_whole_corpus(app, query_jpeg: bytes) -> None:
    client = app.test_client()
    for name, (build, status, _code) in CASES.items():
        assert build(client, query_jpeg).status_code == status, name
    ok = search_multipart(client, query_jpeg, options='{"top_k": 2}')
    assert ok.status_code == 200
    assert ok.get_json()["results"][0]["source_path"] == "ink_wash/ink_wash_0002.jpg"
    assert client.get("/healthz").get_json()["status"] == "ok"


def test_a_405_keeps_its_allow_header(app) -> None:
    resp = app.test_client().get("/v1/collections/demo/search")
    assert_error(resp, 405, "method_not_allowed")
    assert set(resp.headers["Allow"].replace(" ", "").split(",")) >= {"POST"}


def test_scores_in_answers_are_always_finite_json(app, query_jpeg: bytes) -> None:
    """Extreme but valid weights and labels still give plain JSON numbers (no NaN/Infinity)."""
    client = app.test_client()
    options = {
        "weights": {"cnn": 1000, "color": 1e-300},
        "labels": [{"name": "ink_wash", "confidence": 1}],
        "label_weight": 1,
    }
    resp = search_multipart(client, query_jpeg, options=json.dumps(options))
    assert resp.status_code == 200
    body = json.loads(resp.get_data(as_text=True), parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert all(math.isfinite(h["score"]) for h in body["results"]) and body["results"]


def test_a_non_finite_number_in_a_response_is_a_500_not_invalid_json(demo_engine) -> None:
    """A future bug that computes NaN shows up as an error, never as a body clients cannot parse."""
    app = create_app(engine=demo_engine)

    @app.get("/test-nan")
    def _nan():  # a stand-in for such a bug
        from flask import jsonify

        return jsonify({"score": float("nan")})

    resp = app.test_client().get("/test-nan")
    assert_error(resp, 500, "internal")
