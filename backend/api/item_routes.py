"""Items: add one, read one, its picture and thumbnail, and what is related to it."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from flask import Blueprint, Response, jsonify, request, send_file
from flask.typing import ResponseReturnValue

from ..engine.ingest import DUPLICATE_POLICIES
from ..engine.search import SearchOptions
from .context import engine, metrics
from .errors import APIError
from .requests_parsing import form_json, image_bytes, int_arg
from .security_headers import mark_as_media, media_type
from .serializers import hit_json, item_json

bp = Blueprint("items", __name__)

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@bp.post("/v1/collections/<name>/items")
def add_item(name: str) -> ResponseReturnValue:
    """Multipart ``image`` + optional ``labels`` (JSON list), ``title``, ``source_path``."""
    eng = engine()
    eng.catalog.collection_id(name)  # collections are created by ingest; 404 otherwise
    data = image_bytes(request)
    labels = form_json(request, "labels") or []
    if not isinstance(labels, list) or not all(isinstance(x, str) and x for x in labels):
        raise APIError(400, "bad_labels", "labels must be a JSON list of non-empty strings")
    upload_name = request.files["image"].filename or "upload.jpg"
    # Phones name every photo alike ("image.jpg", "photo.jpg"): without an explicit
    # source_path each upload gets its own, so a second photo is never refused as a clash
    # and the same photo sent again is linked as a duplicate.
    source_path = request.form.get("source_path") or (
        f"uploads/{uuid.uuid4().hex[:12]}-{_SAFE_NAME.sub('_', Path(upload_name).name)}"
    )
    title = request.form.get("title") or None
    try:
        item_id, dup_kind, dup_of = eng.ingest.add_one(name, data, source_path=source_path, labels=labels, title=title)
    except FileExistsError as exc:
        raise APIError(409, "exists", str(exc)) from exc
    metrics().ingested.inc()
    body = item_json(eng.catalog.get_item(item_id))
    status = 200 if dup_kind else 201
    return jsonify(body), status


@bp.get("/v1/items/<int:item_id>")
def get_item(item_id: int) -> ResponseReturnValue:
    return jsonify(item_json(engine().catalog.get_item(item_id)))


@bp.delete("/v1/items/<int:item_id>")
def delete_item(item_id: int) -> ResponseReturnValue:
    """``?duplicates=promote`` (default: the item's first duplicate takes its place) or ``delete``."""
    policy = request.args.get("duplicates", "promote")
    if policy not in DUPLICATE_POLICIES:
        raise APIError(
            400, "bad_request", f"query parameter 'duplicates' must be one of {', '.join(DUPLICATE_POLICIES)}"
        )
    engine().ingest.delete(item_id, duplicates=policy)
    return "", 204


@bp.get("/v1/items/<int:item_id>/related")
def related(item_id: int) -> ResponseReturnValue:
    eng = engine()
    top_k = int_arg(request, "top_k", eng.settings.default_top_k, 1, eng.settings.max_top_k)
    try:
        item, result = eng.search.related(item_id, SearchOptions(top_k=top_k))
    except LookupError as exc:
        if "not indexed" in str(exc):
            raise APIError(409, "not_indexed", str(exc)) from exc
        raise
    return jsonify(
        {
            "item": item_json(item),
            "results": [hit_json(h) for h in result.hits],
            "timings_ms": result.timings.to_dict(),
            "models": result.models,
        }
    )


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
def thumbnail(item_id: int) -> ResponseReturnValue:
    return _media_file(item_id, "thumb_path")


@bp.get("/v1/items/<int:item_id>/image")
def image(item_id: int) -> ResponseReturnValue:
    return _media_file(item_id, "media_path")
