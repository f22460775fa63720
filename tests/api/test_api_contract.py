"""``/openapi.json`` is the contract the SDKs and the web page are written against.

It must describe every route the app serves, describe nothing the app does not serve, and
what the app actually answers (status codes and bodies) must be what it says.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from backend.api import create_app
from backend.engine.embedding_space import server_space

_IGNORED_METHODS = {"HEAD", "OPTIONS"}


@pytest.fixture(scope="module")
def app(demo_engine):
    return create_app(engine=demo_engine)


@pytest.fixture(scope="module")
def doc(app) -> dict[str, Any]:
    resp = app.test_client().get("/openapi.json")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    return resp.get_json()


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([A-Za-z_][A-Za-z0-9_]*)>", r"{\1}", rule)


def _served(app) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        out.setdefault(_openapi_path(rule.rule), set()).update(m for m in rule.methods if m not in _IGNORED_METHODS)
    return out


def _described(doc: dict[str, Any]) -> dict[str, set[str]]:
    verbs = {"get", "post", "put", "patch", "delete"}
    return {path: {m.upper() for m in item if m in verbs} for path, item in doc["paths"].items()}


def test_every_served_route_and_method_is_described(app, doc) -> None:
    served, described = _served(app), _described(doc)
    missing = {f"{m} {p}" for p, methods in served.items() for m in methods if m not in described.get(p, set())}
    assert not missing, f"served but not in /openapi.json: {sorted(missing)}"


def test_every_described_route_is_served(app, doc) -> None:
    served, described = _served(app), _described(doc)
    extra = {f"{m} {p}" for p, methods in described.items() for m in methods if m not in served.get(p, set())}
    assert not extra, f"in /openapi.json but not served: {sorted(extra)}"


def test_path_parameters_match_the_routes(doc) -> None:
    for path, item in doc["paths"].items():
        in_path = set(re.findall(r"{([^}]+)}", path))
        for method, op in item.items():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == in_path, (method, path, declared)
            assert op.get("responses"), (method, path)


def test_every_schema_reference_resolves(doc) -> None:
    refs = re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(doc))
    assert refs
    assert set(refs) <= set(doc["components"]["schemas"]), set(refs) - set(doc["components"]["schemas"])


# --------------------------------------------------------------------------- responses


_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "null": type(None),
}


def _check(value: Any, schema: dict[str, Any], doc: dict[str, Any], where: str = "$") -> None:
    """The JSON-Schema subset the document uses: $ref, type, required, properties, items,
    additionalProperties, oneOf, anyOf, enum, minimum, maximum."""
    if "$ref" in schema:
        _check(value, doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]], doc, where)
        return
    if "anyOf" in schema:
        fits = 0
        for sub in schema["anyOf"]:
            try:
                _check(value, sub, doc, where)
                fits += 1
            except AssertionError:
                pass
        assert fits >= 1, f"{where}: matches none of anyOf"
        return
    if "oneOf" in schema:
        ok = 0
        for sub in schema["oneOf"]:
            try:
                _check(value, sub, doc, where)
                ok += 1
            except AssertionError:
                pass
        assert ok == 1, f"{where}: matches {ok} of oneOf"
        return
    types = schema.get("type")
    if types:
        types = [types] if isinstance(types, str) else types
        ok = any(
            isinstance(value, _TYPES[t]) and not (t in ("integer", "number") and isinstance(value, bool)) for t in types
        )
        assert ok, f"{where}: {value!r:.80} is not {types}"
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        assert value >= schema.get("minimum", value) and value <= schema.get("maximum", value), where
    if isinstance(value, dict):
        for key in schema.get("required", []):
            assert key in value, f"{where}: missing {key!r}"
        props = schema.get("properties", {})
        for key, sub in props.items():
            if key in value:
                _check(value[key], sub, doc, f"{where}.{key}")
        extra = schema.get("additionalProperties")
        for key in set(value) - set(props):
            assert extra is not False, f"{where}: unexpected {key!r}"
            if isinstance(extra, dict):
                _check(value[key], extra, doc, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            _check(v, schema["items"], doc, f"{where}[{i}]")


def _assert_conforms(doc: dict[str, Any], path: str, method: str, resp) -> None:
    op = doc["paths"][path][method]
    status = str(resp.status_code)
    assert status in op["responses"], (
        f"{method.upper()} {path} answered {status}, not described: {resp.get_data(as_text=True)[:200]}"
    )
    content = op["responses"][status].get("content", {})
    if "application/json" in content:
        assert resp.mimetype == "application/json"
        _check(resp.get_json(), content["application/json"]["schema"], doc)


def _jpeg(demo_source, rel: str) -> bytes:
    return (Path(demo_source.out_dir) / rel).read_bytes()


def test_answers_conform_to_the_document(app, doc, demo_source, bomb_png: bytes) -> None:
    c = app.test_client()
    img = _jpeg(demo_source, "portrait/portrait_0001.jpg")
    S = "/v1/collections/{name}/search"

    def multipart(image: bytes | None, options: str | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if image is not None:
            data["image"] = (io.BytesIO(image), "q.jpg")
        if options is not None:
            data["options"] = options
        return data

    cases = [
        (
            S,
            "post",
            lambda: c.post("/v1/collections/demo/search", data=multipart(img, '{"top_k": 3, "labels": ["portrait"]}')),
        ),
        (
            S,
            "post",
            lambda: c.post("/v1/collections/demo/search", json={"embedding": [0.01] * 1280, "options": {"top_k": 2}}),
        ),
        (
            S,
            "post",
            lambda: c.post(
                "/v1/collections/demo/search",
                json={"embedding": [0.01] * 1280, "embedding_space": server_space(), "options": {"top_k": 2}},
            ),
        ),
        (
            S,
            "post",
            lambda: c.post(
                "/v1/collections/demo/search", json={"embedding": [0.01] * 1280, "embedding_space": "other@1"}
            ),
        ),
        (S, "post", lambda: c.post("/v1/collections/demo/search", data=multipart(img[:400]))),
        (S, "post", lambda: c.post("/v1/collections/demo/search", data=multipart(bomb_png))),
        (S, "post", lambda: c.post("/v1/collections/demo/search", data=multipart(b"GIF89a" + b"\0" * 30))),
        (S, "post", lambda: c.post("/v1/collections/demo/search", data=multipart(img, "{"))),
        (S, "post", lambda: c.post("/v1/collections/demo/search", data="x", content_type="text/plain")),
        (S, "post", lambda: c.post("/v1/collections/nope/search", data=multipart(img))),
        ("/v1/collections", "get", lambda: c.get("/v1/collections")),
        ("/v1/collections/{name}", "get", lambda: c.get("/v1/collections/demo")),
        ("/v1/collections/{name}", "get", lambda: c.get("/v1/collections/nope")),
        ("/v1/items/{item_id}", "get", lambda: c.get("/v1/items/1")),
        ("/v1/items/{item_id}", "get", lambda: c.get("/v1/items/99999")),
        ("/v1/items/{item_id}/related", "get", lambda: c.get("/v1/items/2/related?top_k=3")),
        ("/v1/items/{item_id}/related", "get", lambda: c.get("/v1/items/99999/related")),
        ("/v1/items/{item_id}/related", "get", lambda: c.get("/v1/items/2/related?top_k=lots")),
        ("/v1/items/{item_id}/thumbnail", "get", lambda: c.get("/v1/items/1/thumbnail")),
        ("/v1/items/{item_id}/image", "get", lambda: c.get("/v1/items/99999/image")),
        ("/healthz", "get", lambda: c.get("/healthz")),
        ("/", "get", lambda: c.get("/")),
        ("/static/{filename}", "get", lambda: c.get("/static/app.js")),
        ("/static/{filename}", "get", lambda: c.get("/static/no-such-file.js")),
        ("/metrics", "get", lambda: c.get("/metrics")),
        ("/openapi.json", "get", lambda: c.get("/openapi.json")),
    ]
    for path, method, call in cases:
        _assert_conforms(doc, path, method, call())


def test_recognition_answers_conform_to_the_document(app, doc, demo_source) -> None:
    """Both shapes of ``match``: a recognised snap (corners, evidence) and a stranger (null)."""
    import numpy as np
    from PIL import Image

    from dataset_tools.camera_snap import simulate_snap
    from dataset_tools.demo import paint

    c = app.test_client()
    known = Image.open(io.BytesIO(_jpeg(demo_source, "ink_wash/ink_wash_0002.jpg"))).convert("RGB")
    answers = {}
    for name, picture, seed in (("known", known, 2), ("stranger", paint("ink_wash", 30, size=192), 3)):
        snap = simulate_snap(picture, np.random.default_rng(seed))
        resp = c.post("/v1/collections/demo/search", data={"image": (io.BytesIO(snap.jpeg), "snap.jpg")})
        _assert_conforms(doc, "/v1/collections/{name}/search", "post", resp)
        answers[name] = resp.get_json()
    assert answers["known"]["match"] is not None and answers["known"]["regions"][0]["match"] is not None
    assert answers["stranger"]["match"] is None and answers["stranger"]["results"]


def test_adding_items_answers_as_documented(writable_demo: Path, paint_jpeg) -> None:
    from backend.config import Settings

    app = create_app(Settings(data_dir=writable_demo))
    c = app.test_client()
    doc = c.get("/openapi.json").get_json()
    P = "/v1/collections/{name}/items"
    new = paint_jpeg("starry_swirls", 77)
    post = lambda data: c.post("/v1/collections/demo/items", data=data)  # noqa: E731
    for resp in (
        post({"image": (io.BytesIO(new), "new.jpg"), "labels": '["night"]'}),  # 201
        post({"image": (io.BytesIO(new), "new.jpg")}),  # 200 duplicate
        post({"image": (io.BytesIO(new), "new.jpg"), "source_path": "cubist/cubist_0001.jpg"}),  # 409
        post({"image": (io.BytesIO(b""), "new.jpg")}),  # 400
        post({"image": (io.BytesIO(b"GIF89a" + b"\0" * 30), "a.gif")}),  # 415
        c.post("/v1/collections/nope/items", data={"image": (io.BytesIO(new), "n.jpg")}),  # 404
    ):
        _assert_conforms(doc, P, "post", resp)
    _assert_conforms(doc, "/v1/items/{item_id}", "delete", c.delete("/v1/items/1"))
    _assert_conforms(doc, "/v1/items/{item_id}", "delete", c.delete("/v1/items/99999"))
    app.extensions["artsnap.engine"].close()


def test_the_document_states_the_real_ranges(doc) -> None:
    """What the server enforces is what the document says (it is generated from the same models)."""
    schemas = doc["components"]["schemas"]
    opts = schemas["SearchOptions"]["properties"]
    assert (opts["top_k"]["minimum"], opts["top_k"]["maximum"]) == (1, 200)
    weights = next(s for s in opts["weights"]["anyOf"] if s.get("type") == "object")
    assert weights["additionalProperties"]["minimum"] == 0 and weights["additionalProperties"]["maximum"] == 1000
    assert weights["minProperties"] == 1
    assert (opts["label_weight"]["minimum"], opts["label_weight"]["maximum"]) == (0, 1)
    confidence = schemas["QueryLabel"]["properties"]["confidence"]
    assert (confidence["minimum"], confidence["maximum"]) == (0, 1)
    assert schemas["SearchOptions"]["additionalProperties"] is False
    vector = schemas["VectorSearch"]["properties"]["embedding"]["anyOf"][0]
    assert vector["type"] == "array" and vector["minItems"] == 1 and vector["items"]["type"] == "number"
    assert "embedding_space" in schemas["VectorSearch"]["properties"]
    assert schemas["VectorSearch"]["required"] == ["embedding"]

    for path, item in doc["paths"].items():
        for method, op in item.items():
            for p in op.get("parameters", []):
                if p["name"] == "item_id":
                    assert p["schema"]["maximum"] == 2**63 - 1 and p["schema"]["minimum"] == 0, (method, path)
    delete = doc["paths"]["/v1/items/{item_id}"]["delete"]
    (dup,) = [p for p in delete["parameters"] if p["name"] == "duplicates"]
    assert dup["in"] == "query" and dup["schema"]["enum"] == ["promote", "delete"]
    assert dup["schema"]["default"] == "promote"

    search = doc["paths"]["/v1/collections/{name}/search"]["post"]["responses"]
    assert {"200", "400", "404", "408", "409", "413", "415", "429"} <= set(search)
    assert "bad_dimensions" in search["400"]["description"]
    assert "JSON body over 1 MB" in search["413"]["description"] and "memory" in search["413"]["description"]
    assert "request_timeout" in search["408"]["description"]

    latest = doc["paths"]["/v1/models/latest"]["get"]
    params = {p["name"]: p for p in latest["parameters"]}
    assert params["platform"]["schema"]["anyOf"][0]["enum"] == ["android", "ios", "server"]
    assert params["precision"]["schema"]["anyOf"][0]["enum"] == ["fp32", "fp16", "int8", "int8_full"]
    assert params["If-None-Match"]["in"] == "header" and "304" in latest["responses"]

    # Who may call what: writes need a secret key; search is keyed or public; /healthz is open.
    assert set(doc["components"]["securitySchemes"]) == {"secretKey", "publishableKey"}
    assert doc["paths"]["/v1/collections/{name}/items"]["post"]["security"] == [{"secretKey": []}]
    assert {} in doc["paths"]["/v1/collections/{name}/search"]["post"]["security"]
    assert doc["paths"]["/healthz"]["get"]["security"] == [{}]
    assert "401" in doc["paths"]["/metrics"]["get"]["responses"]
