"""The HTTP API through Flask's test client (and once through a real HTTP server)."""

from __future__ import annotations

import io
import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from backend.api import create_app
from backend.config import Settings
from backend.engine.embedding_space import server_space

MAX_UPLOAD = 1024 * 1024  # small, so "too large" is cheap to provoke


@pytest.fixture(scope="module")
def api_data_dir(tmp_path_factory: pytest.TempPathFactory, demo_data_dir: Path) -> Path:
    """A private copy of the demo data folder: these tests add and delete items."""
    target = tmp_path_factory.mktemp("api") / "data"
    shutil.copytree(demo_data_dir, target, symlinks=True)
    return target


@pytest.fixture(scope="module")
def app(api_data_dir: Path):
    app = create_app(Settings(data_dir=api_data_dir, max_upload_bytes=MAX_UPLOAD))
    yield app
    app.extensions["artsnap.engine"].close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def query_jpeg(demo_source) -> bytes:
    return (Path(demo_source.out_dir) / "ink_wash/ink_wash_0002.jpg").read_bytes()


def png_bytes(color: tuple[int, int, int], size: tuple[int, int] = (96, 80)) -> bytes:
    arr = np.zeros((size[1], size[0], 3), np.uint8)
    arr[...] = color
    arr[size[1] // 4 : size[1] // 2, size[0] // 3 : size[0] // 2] = (255 - color[0], color[2], 40)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def search(
    client, collection: str = "demo", *, image: bytes | None = None, options: object = None, filename: str = "q.jpg"
):
    data: dict[str, object] = {}
    if image is not None:
        data["image"] = (io.BytesIO(image), filename)
    if options is not None:
        data["options"] = options if isinstance(options, str) else json.dumps(options)
    return client.post(f"/v1/collections/{collection}/search", data=data, content_type="multipart/form-data")


def assert_error(resp, status: int, code: str | None = None) -> dict[str, str]:
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:300])
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


def test_search_answers_with_ranked_hits_and_urls(client, query_jpeg: bytes) -> None:
    resp = search(client, image=query_jpeg, options={"top_k": 4})
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["collection"] == "demo" and len(body["results"]) == 4
    top = body["results"][0]
    assert top["source_path"] == "ink_wash/ink_wash_0002.jpg" and top["score"] == pytest.approx(1.0, abs=2e-3)
    assert [lb["name"] for lb in top["labels"]] == ["ink_wash"]
    assert top["thumbnail_url"] == f"/v1/items/{top['id']}/thumbnail"
    assert {"decode_ms", "embed_ms", "search_ms", "total_ms"} <= set(body["timings_ms"])
    assert body["models"][0]["descriptor"] == "cnn"


def test_hit_urls_follow_a_mount_prefix_and_answer(client, query_jpeg: bytes) -> None:
    """A portal may mount the API under a path (SCRIPT_NAME behind a proxy): every hit's URLs
    carry the prefix and lead to that hit's own image, thumbnail and related items."""
    resp = client.post(
        "/v1/collections/demo/search",
        data={"image": (io.BytesIO(query_jpeg), "q.jpg"), "options": json.dumps({"top_k": 3})},
        content_type="multipart/form-data",
        base_url="http://localhost/museum",
    )
    hits = resp.get_json()["results"]
    assert len(hits) == 3
    for hit in hits:
        for key, tail in (("thumbnail_url", "thumbnail"), ("image_url", "image"), ("related_url", "related")):
            assert hit[key] == f"/museum/v1/items/{hit['id']}/{tail}"
            got = client.get(hit[key].removeprefix("/museum"))
            assert got.status_code == 200, (key, got.status_code)
        related = client.get(hit["related_url"].removeprefix("/museum")).get_json()
        assert related["item"]["id"] == hit["id"]


def test_a_photo_of_an_artwork_answers_with_its_match_and_one_region(client, query_jpeg: bytes) -> None:
    from dataset_tools.camera_snap import simulate_snap

    snap = simulate_snap(Image.open(io.BytesIO(query_jpeg)).convert("RGB"), np.random.default_rng(2))
    body = search(client, image=snap.jpeg, options={"top_k": 4}).get_json()
    match = body["match"]
    assert match is not None and match["source_path"] == "ink_wash/ink_wash_0002.jpg"
    assert match["thumbnail_url"] == f"/v1/items/{match['id']}/thumbnail"
    assert match["evidence"]["inliers"] >= 12 and 0 < match["evidence"]["score"] <= 1
    corners = np.asarray(match["corners"])  # in the uploaded photo's pixels
    assert corners.shape == (4, 2)
    assert np.abs(corners - snap.corners).max() < 0.02 * np.hypot(*snap.photo.size)
    assert body["query"]["photo_size"] == list(snap.photo.size)
    (region,) = body["regions"]
    assert region["match"]["id"] == match["id"] and region["corners"] == match["corners"]
    assert region["results"][0]["id"] == match["id"] and "thumbnail_url" in region["results"][0]
    assert body["results"] == region["results"]
    assert "recognise_ms" in body["timings_ms"]

    phone = {"embedding": [0.02] * 1280, "embedding_space": server_space()}
    vec = client.post("/v1/collections/demo/search", json=phone).get_json()
    assert vec["match"] is None and vec["regions"] == [] and vec["results"]


def _bomb(request) -> bytes:
    return request.getfixturevalue("bomb_png")


ERROR_CASES = {
    # name: (request builder, status, code)
    "corrupt jpeg": (lambda c, r, q: search(c, image=q[: len(q) // 3]), 400, "truncated"),
    "random bytes": (lambda c, r, q: search(c, image=np.random.default_rng(1).bytes(3000)), 400, "not_an_image"),
    "gif": (
        lambda c, r, q: search(c, image=b"GIF89a" + b"\x01\x00\x01\x00" + b"\x00" * 40, filename="a.gif"),
        415,
        "unsupported_format",
    ),
    "decompression bomb": (lambda c, r, q: search(c, image=_bomb(r), filename="bomb.png"), 413, "too_large"),
    "over the upload limit": (
        lambda c, r, q: search(c, image=b"\xff\xd8\xff" + b"\x00" * (MAX_UPLOAD + 10)),
        413,
        "too_large",
    ),
    "empty file": (lambda c, r, q: search(c, image=b""), 400, "empty"),
    "missing image field": (lambda c, r, q: search(c, options={"top_k": 3}), 400, "missing_image"),
    "bad json in options": (lambda c, r, q: search(c, image=q, options="{top_k: 3"), 400, "bad_json"),
    "unknown option": (lambda c, r, q: search(c, image=q, options={"topk": 3}), 400, "bad_options"),
    "top_k zero": (lambda c, r, q: search(c, image=q, options={"top_k": 0}), 400, "bad_options"),
    "top_k huge": (lambda c, r, q: search(c, image=q, options={"top_k": 10**6}), 400, "bad_options"),
    "top_k string": (lambda c, r, q: search(c, image=q, options={"top_k": "ten"}), 400, "bad_options"),
    "unknown collection": (lambda c, r, q: search(c, "no-such", image=q), 404, "unknown_collection"),
    "wrong content type": (
        lambda c, r, q: c.post("/v1/collections/demo/search", data=q, content_type="image/jpeg"),
        415,
        "unsupported_media_type",
    ),
    "text body": (
        lambda c, r, q: c.post("/v1/collections/demo/search", data="hello", content_type="text/plain"),
        415,
        None,
    ),
    "invalid json body": (
        lambda c, r, q: c.post("/v1/collections/demo/search", data="{", content_type="application/json"),
        400,
        "bad_json",
    ),
    "json without embedding": (
        lambda c, r, q: c.post("/v1/collections/demo/search", json={"options": {}}),
        400,
        "missing_field",
    ),
    "embedding of strings": (
        lambda c, r, q: c.post("/v1/collections/demo/search", json={"embedding": ["a"] * 1280}),
        400,
        "bad_embedding",
    ),
    "embedding too short": (
        lambda c, r, q: c.post(
            "/v1/collections/demo/search", json={"embedding": [0.5] * 12, "embedding_space": server_space()}
        ),
        400,
        "bad_options",
    ),
    "json over the upload limit": (
        lambda c, r, q: c.post(
            "/v1/collections/demo/search", data=b"[" + b"0," * MAX_UPLOAD + b"0]", content_type="application/json"
        ),
        413,
        "too_large",
    ),
    "unknown item": (lambda c, r, q: c.get("/v1/items/987654"), 404, "unknown_item"),
    "unknown item related": (lambda c, r, q: c.get("/v1/items/987654/related"), 404, "unknown_item"),
    "unknown item thumbnail": (lambda c, r, q: c.get("/v1/items/987654/thumbnail"), 404, "unknown_item"),
    "related bad top_k": (lambda c, r, q: c.get("/v1/items/1/related?top_k=lots"), 400, "bad_request"),
    "unknown route": (lambda c, r, q: c.get("/v1/nothing-here"), 404, "not_found"),
    "wrong method": (lambda c, r, q: c.get("/v1/collections/demo/search"), 405, "method_not_allowed"),
    "add to unknown collection": (
        lambda c, r, q: c.post("/v1/collections/no-such/items", data={"image": (io.BytesIO(q), "a.jpg")}),
        404,
        "unknown_collection",
    ),
    "add corrupt image": (
        lambda c, r, q: c.post("/v1/collections/demo/items", data={"image": (io.BytesIO(q[:500]), "a.jpg")}),
        400,
        "truncated",
    ),
    "add with bad labels": (
        lambda c, r, q: c.post(
            "/v1/collections/demo/items", data={"image": (io.BytesIO(q), "a.jpg"), "labels": '"baroque"'}
        ),
        400,
        "bad_labels",
    ),
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_every_error_is_json_with_the_right_status_and_the_server_keeps_serving(
    client, request, query_jpeg: bytes, case: str
) -> None:
    build, status, code = ERROR_CASES[case]
    assert_error(build(client, request, query_jpeg), status, code)
    after = search(client, image=query_jpeg, options={"top_k": 1})
    assert after.status_code == 200
    assert after.get_json()["results"][0]["source_path"] == "ink_wash/ink_wash_0002.jpg"


def test_an_added_item_becomes_searchable_and_a_duplicate_upload_is_linked(client) -> None:
    new = png_bytes((30, 160, 90))
    resp = client.post(
        "/v1/collections/demo/items",
        data={"image": (io.BytesIO(new), "photo.png"), "labels": json.dumps(["green"]), "title": "Green study"},
    )
    assert resp.status_code == 201, resp.get_json()
    item = resp.get_json()
    assert item["status"] == "indexed" and item["title"] == "Green study" and item["duplicate_of"] is None
    assert [lb["name"] for lb in item["labels"]] == ["green"]

    hits = search(client, image=new, options={"top_k": 3, "locate": False}).get_json()["results"]
    assert hits[0]["id"] == item["id"] and hits[0]["score"] == pytest.approx(1.0, abs=2e-3)
    assert client.get(f"/v1/items/{item['id']}").get_json()["source_path"] == item["source_path"]

    # The very same photo again, under the same file name, as a phone would send it.
    again = client.post(
        "/v1/collections/demo/items", data={"image": (io.BytesIO(new), "photo.png"), "labels": '["verde"]'}
    )
    assert again.status_code == 200, again.get_json()
    dup = again.get_json()
    assert dup["duplicate_of"] == item["id"] and dup["duplicate_kind"] == "exact" and dup["status"] == "duplicate"
    kept = client.get(f"/v1/items/{item['id']}").get_json()
    assert dup["id"] in kept["duplicates"]
    assert {lb["name"] for lb in kept["labels"]} == {"green", "verde"}

    # A different photo that happens to have the same file name is a new item, not a clash.
    other = client.post(
        "/v1/collections/demo/items", data={"image": (io.BytesIO(png_bytes((200, 40, 160))), "photo.png")}
    )
    assert other.status_code == 201, other.get_json()
    # An explicit source_path is kept under uploads/ (never a curator's path); used twice, it is a conflict.
    named = client.post(
        "/v1/collections/demo/items",
        data={"image": (io.BytesIO(png_bytes((10, 10, 200))), "x.png"), "source_path": "ink_wash/ink_wash_0002.jpg"},
    )
    assert named.status_code in (200, 201) and named.get_json()["source_path"] == "uploads/ink_wash/ink_wash_0002.jpg"
    clash = client.post(
        "/v1/collections/demo/items",
        data={"image": (io.BytesIO(png_bytes((10, 200, 10))), "y.png"), "source_path": "ink_wash/ink_wash_0002.jpg"},
    )
    assert_error(clash, 409, "exists")


def test_deleted_item_is_gone_from_catalog_and_search(client) -> None:
    img = png_bytes((240, 200, 20))
    item = client.post("/v1/collections/demo/items", data={"image": (io.BytesIO(img), "to-delete.png")}).get_json()
    assert client.delete(f"/v1/items/{item['id']}").status_code == 204
    assert_error(client.get(f"/v1/items/{item['id']}"), 404, "unknown_item")
    hits = search(client, image=img, options={"top_k": 50, "locate": False}).get_json()["results"]
    assert item["id"] not in {h["id"] for h in hits}


def test_item_thumbnail_image_and_related(client, app) -> None:
    eng = app.extensions["artsnap.engine"]
    cid = eng.catalog.collection_id("demo")
    dup_id = eng.catalog.ids_with_status(cid, "duplicate")[0]
    dup = client.get(f"/v1/items/{dup_id}").get_json()
    kept_id = dup["duplicate_of"]
    for item_id in (kept_id, dup_id):  # a duplicate shows the picture it duplicates
        thumb = client.get(f"/v1/items/{item_id}/thumbnail")
        assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
        img = Image.open(io.BytesIO(thumb.data))
        assert img.format == "JPEG" and max(img.size) <= eng.settings.thumb_size
        full = client.get(f"/v1/items/{item_id}/image")
        assert full.status_code == 200 and Image.open(io.BytesIO(full.data)).size[0] > 0
    related = client.get(f"/v1/items/{dup_id}/related?top_k=5").get_json()
    assert related["item"]["id"] == dup_id and len(related["results"]) == 5
    assert not {h["id"] for h in related["results"]} & {kept_id, dup_id}


def test_embedding_search_over_http_equals_image_search(client, app, query_jpeg: bytes) -> None:
    eng = app.extensions["artsnap.engine"]
    vec = eng.descriptors["cnn"].describe([Image.open(io.BytesIO(query_jpeg)).convert("RGB")])[0]
    by_vec = client.post(
        "/v1/collections/demo/search",
        json={"embedding": vec.tolist(), "embedding_space": server_space(), "options": {"top_k": 6}},
    ).get_json()
    by_img = search(client, image=query_jpeg, options={"top_k": 6, "locate": False}).get_json()
    assert [h["id"] for h in by_vec["results"]] == [h["id"] for h in by_img["results"]]
    np.testing.assert_allclose(
        [h["score"] for h in by_vec["results"]], [h["score"] for h in by_img["results"]], atol=1e-5
    )


def test_vectors_from_another_space_or_from_no_model_are_refused(client, app, query_jpeg: bytes) -> None:
    """Defect 6 of issue 11: any 1 280 numbers used to return hits, whatever space they claimed."""
    eng = app.extensions["artsnap.engine"]
    real = eng.descriptors["cnn"].describe([Image.open(io.BytesIO(query_jpeg)).convert("RGB")])[0].tolist()
    rng = np.random.default_rng(0)
    random_vec = rng.standard_normal(1280).tolist()

    def post(body: dict) -> tuple[int, dict]:
        resp = client.post("/v1/collections/demo/search", json={**body, "options": {"top_k": 3}})
        return resp.status_code, resp.get_json()

    status, body = post({"embedding": random_vec})
    assert status == 400 and body["error"]["code"] == "missing_embedding_space"
    assert server_space() in body["error"]["message"]
    status, body = post({"embedding": real, "embedding_space": "efficientnet-lite0-imagenet@0123456789ab"})
    assert status == 409 and body["error"]["code"] == "foreign_embedding_space"
    assert "send the photo instead" in body["error"]["message"]  # no registered model here computes vectors
    status, body = post({"embedding": real, "embedding_space": "fine-tuned:abc@0123456789ab"})
    assert status == 409 and body["error"]["code"] == "foreign_embedding_space"
    status, body = post({"embedding": random_vec, "embedding_space": server_space()})
    assert status == 400 and body["error"]["code"] == "not_an_embedding"
    status, body = post({"embedding": {"cnn": real}, "embedding_space": {"cnn": server_space()}})
    assert status == 200 and body["results"]
    status, body = post({"embedding": real, "embedding_space": 7})
    assert status == 400 and body["error"]["code"] == "bad_embedding"


def test_healthz_collections_and_metrics(client, query_jpeg: bytes) -> None:
    health = client.get("/healthz")
    assert health.status_code == 200
    body = health.get_json()
    assert body["status"] == "ok" and body["database"] == "ok" and "demo" in body["collections"]

    listing = client.get("/v1/collections").get_json()["collections"]
    demo = next(c for c in listing if c["name"] == "demo")
    assert demo["items"] >= 48 and demo["labels"]["seascape"] == 6
    assert client.get("/v1/collections/demo").get_json()["name"] == "demo"

    def counts() -> dict[tuple[str, str, str], float]:
        resp = client.get("/metrics")
        assert resp.status_code == 200 and resp.mimetype == "text/plain"
        out = {}
        for fam in text_string_to_metric_families(resp.get_data(as_text=True)):
            for s in fam.samples:
                if s.name == "artsnap_http_requests_total":
                    out[(s.labels["endpoint"], s.labels["method"], s.labels["status"])] = s.value
        return out

    before = counts()
    for _ in range(3):
        client.get("/healthz")
    search(client, image=query_jpeg, options={"top_k": 1})
    search(client, image=b"")
    after = counts()
    key = ("/healthz", "GET", "200")
    assert after[key] - before.get(key, 0) == 3
    s_ok, s_bad = ("/v1/collections/<name>/search", "POST", "200"), ("/v1/collections/<name>/search", "POST", "400")
    assert after[s_ok] - before.get(s_ok, 0) == 1 and after[s_bad] - before.get(s_bad, 0) == 1
    text = client.get("/metrics").get_data(as_text=True)
    assert 'artsnap_search_stage_seconds_count{stage="embed"}' in text


def test_a_real_http_server_answers_searches_and_errors(app, query_jpeg: bytes) -> None:
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        ok = requests.post(
            f"{base}/v1/collections/demo/search",
            files={"image": ("q.jpg", query_jpeg, "image/jpeg")},
            data={"options": '{"top_k": 2}'},
            timeout=60,
        )
        assert ok.status_code == 200 and ok.json()["results"][0]["source_path"] == "ink_wash/ink_wash_0002.jpg"
        assert "app;dur=" in ok.headers["Server-Timing"]
        too_big = requests.post(
            f"{base}/v1/collections/demo/search",
            files={"image": ("q.jpg", b"\xff\xd8\xff" + b"\0" * (2 * MAX_UPLOAD))},
            timeout=60,
        )
        assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "too_large"
        assert requests.get(f"{base}/healthz", timeout=60).json()["status"] == "ok"
    finally:
        server.shutdown()
        thread.join(timeout=30)
