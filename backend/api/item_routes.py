"""Items: add one, read one, its picture and thumbnail, and what is related to it."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request, send_file
from flask.typing import ResponseReturnValue

from ..engine.search_options import SearchOptions
from ..engine.uploads import BadSourcePath
from .audit import note
from .context import engine, metrics
from .errors import APIError
from .openapi import answers, api, declared, requires
from .requests_parsing import image_bytes
from .response_models import Item, RelatedResponse
from .schemas import AddItem, DeleteQuery, RelatedQuery
from .security_headers import mark_as_media, media_type
from .serializers import hit_json, item_json

bp = Blueprint("items", __name__)


@bp.post("/v1/collections/<name>/items")
@requires("write", audit="items.add")
@api.validate(
    form=AddItem,
    resp=answers(
        {201: Item, 200: Item},
        400,
        404,
        408,
        409,
        413,
        415,
        503,
        text={
            200: "A duplicate of an existing item: linked to it (`duplicate_of`), not indexed",
            201: "Added and indexed",
            400: "missing_image, bad_labels, bad_source_path, bad_json, bad_dimensions, truncated, not_an_image, empty",
            409: "exists: an upload already has this source_path",
        },
    ),
)
def add_item(name: str) -> ResponseReturnValue:
    """Add one image to a collection (deduplicated)

    Multipart `image` + optional `labels` (JSON list), `title`, `source_path` (stored under `uploads/`).
    """
    form = declared(AddItem)
    eng = engine()
    eng.catalog.collection_id(name)  # collections are created by ingest; 404 otherwise
    data = image_bytes(request)
    try:
        item_id, dup_kind, _dup_of = eng.ingest.add_one(
            name,
            data,
            source_path=form.source_path,
            filename=form.image.filename or "upload.jpg",
            labels=form.labels,
            title=form.title or None,
        )
    except BadSourcePath as exc:
        raise APIError(400, "bad_source_path", str(exc)) from exc
    except FileExistsError as exc:
        raise APIError(409, "exists", str(exc)) from exc
    metrics().ingested.inc()
    body = item_json(eng.catalog.get_item(item_id))
    note(item_ids=[item_id], detail={"source_path": body["source_path"], "duplicate_of": body["duplicate_of"]})
    status = 200 if dup_kind else 201
    return jsonify(body), status


@bp.get("/v1/items/<int:item_id>")
@requires("search")
@api.validate(resp=answers({200: Item}, 404))
def get_item(item_id: int) -> ResponseReturnValue:
    """One item: labels, duplicates, provenance"""
    return jsonify(item_json(engine().catalog.get_item(item_id)))


@bp.delete("/v1/items/<int:item_id>")
@requires("write", audit="items.delete")
@api.validate(query=DeleteQuery, resp=answers({204: None}, 400, 404, 503, text={204: "Deleted"}))
def delete_item(item_id: int) -> ResponseReturnValue:
    """Delete an item (catalog, indexes and files)

    A kept item's duplicates are promoted (`?duplicates=promote`, the default: the first takes
    its place) or deleted with it (`?duplicates=delete`).
    """
    query = declared(DeleteQuery)
    eng = engine()
    note(collection=eng.catalog.get_item(item_id).collection)
    report = eng.ingest.delete(item_id, duplicates=query.duplicates)
    note(
        item_ids=[*report.deleted, *report.promoted],
        detail={"duplicates": query.duplicates, "deleted": list(report.deleted), "promoted": list(report.promoted)},
    )
    return "", 204


@bp.get("/v1/items/<int:item_id>/related")
@requires("search")
@api.validate(
    query=RelatedQuery,
    resp=answers({200: RelatedResponse}, 400, 404, 409, text={409: "not_indexed: the item is still being ingested"}),
)
def related(item_id: int) -> ResponseReturnValue:
    """Items similar to this one (never itself or its duplicates)"""
    query = declared(RelatedQuery)
    return jsonify(related_json(item_id, query.top_k))


def related_json(item_id: int, top_k: int) -> dict[str, Any]:
    """The related answer for one item (shared with the lookup by a portal's record id)."""
    try:
        item, result = engine().search.related(item_id, SearchOptions(top_k=top_k))
    except LookupError as exc:
        if "not indexed" in str(exc):
            raise APIError(409, "not_indexed", str(exc)) from exc
        raise
    return {
        "item": item_json(item),
        "results": [hit_json(h) for h in result.hits],
        "weighting": result.weighting.to_dict()
        if result.weighting is not None and result.weighting.source != "default"
        else None,
        "timings_ms": result.timings.to_dict(),
        "models": result.models,
    }


def _media_file(item_id: int, attr: str) -> Response:
    eng = engine()
    item = eng.catalog.get_item(item_id)
    if item.duplicate_of and not getattr(item, attr):
        item = eng.catalog.get_item(item.duplicate_of)
    rel = getattr(item, attr)
    path = (eng.settings.data_dir / rel).resolve() if rel else None
    if path is None or not path.is_file() or eng.settings.data_dir not in path.parents:
        raise APIError(404, "no_media", f"item {item_id} has no stored picture")
    # Originals are kept byte for byte (anything after the image data too): a fixed image
    # type, no sniffing and a sandboxing CSP make them inert if opened as a page.
    resp = send_file(path, mimetype=media_type(path), max_age=86400, conditional=True)
    return mark_as_media(resp)


@bp.get("/v1/items/<int:item_id>/thumbnail")
@requires("search")
@api.validate(resp=answers({200: None}, 404, text={200: "JPEG thumbnail"}))
def thumbnail(item_id: int) -> ResponseReturnValue:
    """Thumbnail JPEG"""
    return _media_file(item_id, "thumb_path")


@bp.get("/v1/items/<int:item_id>/image")
@requires("search")
@api.validate(resp=answers({200: None}, 404, text={200: "The stored picture (JPEG, PNG or WebP)"}))
def image(item_id: int) -> ResponseReturnValue:
    """Stored picture"""
    return _media_file(item_id, "media_path")
