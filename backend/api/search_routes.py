"""Collections and search: ``POST /v1/collections/{name}/search`` and friends."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from ..engine.search import SearchOptions
from .context import engine, metrics
from .errors import APIError
from .requests_parsing import form_json, image_bytes, json_body
from .serializers import search_json

bp = Blueprint("collections", __name__, url_prefix="/v1/collections")


@bp.get("")
def list_collections() -> ResponseReturnValue:
    eng = engine()
    out = []
    for name in eng.catalog.collection_names():
        info = eng.catalog.collection_info(name)
        out.append({"name": name, "items": info.indexed, "duplicates": info.duplicates, "labels": info.labels})
    return jsonify({"collections": out})


@bp.get("/<name>")
def get_collection(name: str) -> ResponseReturnValue:
    info = engine().catalog.collection_info(name)
    return jsonify(
        {
            "name": info.name,
            "items": info.indexed,
            "pending": info.pending,
            "duplicates": info.duplicates,
            "labels": info.labels,
        }
    )


@bp.post("/<name>/search")
def search(name: str) -> ResponseReturnValue:
    """Multipart ``image`` (+ optional ``options`` JSON) or a JSON body with an on-device ``embedding``."""
    eng = engine()
    descriptors = list(eng.descriptors)
    if request.mimetype == "multipart/form-data":
        eng.catalog.collection_id(name)  # 404 before reading a large upload's pixels
        options = SearchOptions.from_json(form_json(request, "options"), eng.settings, descriptors)
        result = eng.search.search_image(name, image_bytes(request), options)
    else:
        body = json_body(request)
        options = SearchOptions.from_json(body.get("options"), eng.settings, descriptors)
        emb = body.get("embedding")
        if emb is None:
            raise APIError(400, "missing_field", "send an 'image' file (multipart) or a JSON 'embedding'")
        vectors = emb if isinstance(emb, dict) else {"cnn": emb}
        for key, vec in vectors.items():
            if not isinstance(vec, list) or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) for x in vec
            ):
                raise APIError(400, "bad_embedding", f"embedding {key!r} must be a list of numbers")
        result = eng.search.search_vectors(name, vectors, options)
    m = metrics()
    for stage in ("decode_ms", "recognise_ms", "locate_ms", "embed_ms", "search_ms"):
        m.search_stage.labels(stage=stage[:-3]).observe(getattr(result.timings, stage) / 1000)
    return jsonify(search_json(result))
