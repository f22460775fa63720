"""Collections and search: ``POST /v1/collections/{name}/search`` and friends."""

from __future__ import annotations

from flask import Blueprint, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from ..engine.embedding_space import EmbeddingSpaceError, server_space
from ..engine.model_registry import active_model, model_space
from ..engine.search import SearchOptions, is_finite_number
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
        if not vectors:
            raise APIError(400, "bad_embedding", 'embedding must be a list of numbers or {"descriptor": [numbers]}')
        for key, vec in vectors.items():
            if not isinstance(vec, list) or not all(is_finite_number(x) for x in vec):
                raise APIError(400, "bad_embedding", f"embedding {key!r} must be a list of finite numbers")
        spaces = _spaces(body.get("embedding_space"))
        try:
            result = eng.search.search_vectors(name, vectors, options, spaces)
        except EmbeddingSpaceError as exc:
            status = 409 if exc.code == "foreign_embedding_space" else 400
            raise APIError(status, exc.code, f"{exc} {_model_hint()}") from exc
    m = metrics()
    for stage in ("decode_ms", "locate_ms", "embed_ms", "search_ms"):
        m.search_stage.labels(stage=stage[:-3]).observe(getattr(result.timings, stage) / 1000)
    return jsonify(search_json(result))


def _spaces(raw: object) -> dict[str, str | None]:
    """``embedding_space``: one id (for the ``cnn`` vector) or ``{descriptor: id}``."""
    if raw is None:
        return {}
    if isinstance(raw, str):
        return {"cnn": raw}
    if isinstance(raw, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        return dict(raw)
    raise APIError(400, "bad_embedding", "embedding_space must be a string or an object of strings per descriptor")


def _model_hint() -> str:
    """Which model a phone should download to compute vectors this server can search."""
    model = active_model(engine().catalog)
    if model is not None and model_space(model) == server_space():
        url = url_for("models.latest", platform="android")
        return (
            f"Download model {model.name} {model.version} (GET {url} or ?platform=ios) and send its "
            f"embedding with embedding_space {server_space()!r}, or send the photo instead."
        )
    return "No registered model computes this server's embeddings: send the photo instead (multipart 'image')."
