"""Collections and search: ``POST /v1/collections/{name}/search`` and friends."""

from __future__ import annotations

from flask import Blueprint, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from ..engine.attribution import normalize_record_ref
from ..engine.embedding_space import EmbeddingSpaceError, server_space
from ..engine.model_registry import active_model, model_space
from ..engine.search_options import SearchOptions
from .context import engine, metrics
from .errors import APIError
from .item_routes import related_json
from .openapi import answers, api, declared, declared_if, requires
from .requests_parsing import image_bytes
from .response_models import Collection, CollectionList, RelatedResponse, SearchResponse
from .schemas import ImageSearch, RecordQuery, VectorSearch
from .schemas import SearchOptions as DeclaredOptions
from .serializers import search_json

bp = Blueprint("collections", __name__, url_prefix="/v1/collections")

_SEARCH_TEXT = {
    400: "bad_json, bad_options, bad_embedding, missing_field, missing_image, missing_embedding_space, "
    "not_an_embedding, bad_dimensions (an image too thin, too small or too elongated), truncated, not_an_image, empty",
    409: "foreign_embedding_space: the vector is from another model's embedding space",
    415: "unsupported_media_type (send multipart or JSON) or unsupported_format (GIF, BMP, TIFF, HEIC ...)",
    503: "vector_store_unavailable: the vector store does not answer (`Retry-After`)",
}


@bp.get("")
@requires("search")
@api.validate(resp=answers({200: CollectionList}))
def list_collections() -> ResponseReturnValue:
    """List collections"""
    eng = engine()
    out = []
    for name in eng.catalog.collection_names():
        info = eng.catalog.collection_info(name)
        out.append({"name": name, "items": info.indexed, "duplicates": info.duplicates, "labels": info.labels})
    return jsonify({"collections": out})


@bp.get("/<name>")
@requires("search")
@api.validate(resp=answers({200: Collection}, 404))
def get_collection(name: str) -> ResponseReturnValue:
    """One collection's counts"""
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
@requires("search")
@api.validate(
    json=VectorSearch,
    form=ImageSearch,
    resp=answers({200: SearchResponse}, 400, 404, 408, 409, 413, 415, 503, text=_SEARCH_TEXT),
)
def search(name: str) -> ResponseReturnValue:
    """Search a collection with a photo or an on-device embedding

    Multipart `image` (+ optional `options` JSON), or a JSON body with the phone's `embedding`
    and the `embedding_space` it is in.
    """
    eng = engine()
    descriptors = list(eng.descriptors)
    form = declared_if(ImageSearch)
    if form is not None:
        eng.catalog.collection_id(name)  # 404 before reading a large upload's pixels
        options = SearchOptions.from_json(_options_json(form.options), eng.settings, descriptors)
        result = eng.search.search_image(name, image_bytes(request), options)
    else:
        body = declared(VectorSearch)
        options = SearchOptions.from_json(_options_json(body.options), eng.settings, descriptors)
        vectors = body.embedding if isinstance(body.embedding, dict) else {"cnn": body.embedding}
        raw_space = body.embedding_space
        spaces = {} if raw_space is None else {"cnn": raw_space} if isinstance(raw_space, str) else dict(raw_space)
        try:
            result = eng.search.search_vectors(name, vectors, options, spaces)  # type: ignore[arg-type]  # lists of floats; the engine makes arrays
        except EmbeddingSpaceError as exc:
            status = 409 if exc.code == "foreign_embedding_space" else 400
            raise APIError(status, exc.code, f"{exc} {_model_hint()}") from exc
    m = metrics()
    for stage in ("decode_ms", "recognise_ms", "locate_ms", "embed_ms", "search_ms"):
        m.search_stage.labels(stage=stage[:-3]).observe(getattr(result.timings, stage) / 1000)
    return jsonify(search_json(result))


@bp.get("/<name>/related")
@requires("search")
@api.validate(
    query=RecordQuery,
    resp=answers(
        {200: RelatedResponse},
        400,
        404,
        409,
        text={
            404: "unknown_collection, or unknown_record: no item has that record id, source_path or id",
            409: "not_indexed: the item is still being ingested",
        },
    ),
)
def related_by_record(name: str) -> ResponseReturnValue:
    """Works related to one a portal names by its own record id (or a source_path, or our id)

    Exactly one of `record`, `source_path` and `item`. This is what the heritage widget calls:
    a portal knows its records, not our ids.
    """
    query = declared(RecordQuery)
    eng = engine()
    cid = eng.catalog.collection_id(name)
    given = [k for k in ("record", "source_path", "item") if getattr(query, k) is not None]
    if len(given) != 1:
        raise APIError(400, "bad_request", "give exactly one of ?record=, ?source_path= and ?item=")
    if query.item is not None:
        item_id: int | None = query.item
        if eng.catalog.get_item(query.item).collection != name:
            item_id = None
    elif query.record is not None:
        try:
            ref = normalize_record_ref(query.record)
        except ValueError as exc:
            raise APIError(400, "bad_request", f"record: {exc}") from exc
        item_id = eng.catalog.find_item(cid, record_id=ref)
    else:
        item_id = eng.catalog.find_item(cid, source_path=query.source_path)
    if item_id is None:
        what = f"{given[0]} {getattr(query, given[0])!r}"
        raise APIError(404, "unknown_record", f"no item in {name!r} has {what}")
    return jsonify(related_json(item_id, query.top_k))


def _options_json(options: DeclaredOptions | None) -> dict[str, object] | None:
    """The declared options as the engine's ``from_json`` reads them (only what the client set)."""
    return None if options is None else options.model_dump(exclude_unset=True, exclude_none=True)


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
