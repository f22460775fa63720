"""Fake Search API (v2 and v3), Record API (v2 and v3) and media downloads."""

from __future__ import annotations

import urllib.parse
from typing import Any

from flask import Blueprint, Response, jsonify, request

from ..record_ids import normalize_record_id
from .record_store import StoredRecord, absolutize_media, decode_cursor, encode_cursor, search_fingerprint
from .record_v3 import record_as_jsonld
from .state import fake_state
from .synthetic import render_png
from .thumbnails import placeholder_response

blueprint = Blueprint("fake_europeana", __name__)

MAX_ROWS = 100
DEFAULT_ROWS = 12


def _api_key() -> str | None:
    return request.headers.get("X-Api-Key") or request.args.get("wskey")


def _error(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"apikey": _api_key() or "", "success": False, "error": message}), status


def _key_problem() -> tuple[Response, int] | None:
    key = _api_key()
    if not key:
        return _error(401, "No API key provided")
    if not fake_state().accounts.api_key_ok(key):
        return _error(401, f"Invalid API key: {key}")
    return None


def _media_base() -> str:
    return request.host_url.rstrip("/")


def _with_link(item: dict[str, Any]) -> dict[str, Any]:
    """Every real search item carries ``link``, its Record API URL with the caller's key
    (recorded: search_record/europeana_example.json in ../shared/fixtures/europeana)."""
    query = urllib.parse.urlencode({"wskey": _api_key()})
    return {**item, "link": f"{_media_base()}/record/v2{item['id']}.json?{query}"}


@blueprint.get("/record/v2/search.json")
@blueprint.get("/record/v3/search.json")  # api2 SearchController.searchJsonGetV3: same answer
def search() -> Any:
    problem = _key_problem()
    if problem:
        return problem
    state = fake_state()
    query = request.args.get("query")
    if query is None:
        return _error(400, "Invalid query parameter: query must be provided")
    qf = request.args.getlist("qf")
    reusability = request.args.get("reusability")
    media = request.args.get("media")
    thumbnail = request.args.get("thumbnail")
    try:
        rows = int(request.args.get("rows", DEFAULT_ROWS))
    except ValueError:
        return _error(400, "Invalid rows parameter")
    rows = max(0, min(rows, MAX_ROWS))  # the real API caps rows at 100
    fingerprint = search_fingerprint(query, qf, reusability, media, thumbnail)
    cursor = request.args.get("cursor")
    try:
        offset = decode_cursor(cursor, fingerprint) if cursor else int(request.args.get("start", 1)) - 1
    except ValueError as exc:
        return _error(400, str(exc))
    hits = state.records.search(query, qf, reusability, media == "true", thumbnail=thumbnail == "true")
    page = hits[offset : offset + rows]
    payload: dict[str, Any] = {
        "apikey": _api_key(),
        "success": True,
        "requestNumber": 999,
        "itemsCount": len(page),
        "totalResults": len(hits),
        "items": [_with_link(absolutize_media(r.item, _media_base())) for r in page],
    }
    more = offset + len(page) < len(hits)
    if cursor and more and not state.faults.consume("early_page_ends"):
        payload["nextCursor"] = encode_cursor(offset + len(page), fingerprint)
    return jsonify(payload)


@blueprint.get("/record/v2/<dataset>/<local>.json")
def record(dataset: str, local: str) -> Any:
    problem = _key_problem()
    if problem:
        return problem
    stored = fake_state().records.get(f"/{dataset}/{local}")
    if stored is None:
        return _error(404, f"Invalid record identifier: /{dataset}/{local}")
    return jsonify(
        {
            "apikey": _api_key(),
            "success": True,
            "statsDuration": 3,
            "requestNumber": 999,
            "object": absolutize_media(stored.record, _media_base()),
        }
    )


@blueprint.get("/record/v3/<dataset>/<local>")
def record_v3(dataset: str, local: str) -> Any:
    """Record API v3 (europeana/record-api ``RecordController.retrieveRecord``): the format
    is the extension of the local id or the Accept header; JSON-LD here."""
    problem = _key_problem()
    if problem:
        return problem
    for extension in (".jsonld", ".json"):
        if local.endswith(extension):
            local = local[: -len(extension)]
            break
    stored = fake_state().records.get(f"/{dataset}/{local}")
    if stored is None:
        return jsonify(
            {
                "success": False,
                "status": 404,
                "error": "Not Found",
                "message": f"No record found with id /{dataset}/{local}",
            }
        ), 404
    response = jsonify(absolutize_media(record_as_jsonld(stored.record), _media_base()))
    response.mimetype = "application/ld+json"
    return response


def media_bytes(stored: StoredRecord, kind: str) -> bytes:
    """The generated PNG of a record's full image or preview (cached per fake)."""
    state = fake_state()
    key = f"{stored.record_id}:{kind}"
    data = state.media_cache.get(key)
    if data is None:
        size = (320, 240) if kind == "full" else (160, 120)
        data = state.media_cache[key] = render_png(stored.record_id, size=size, style=stored.style)
    return data


@blueprint.get("/fake-media/<dataset>/<local>/<kind>.png")
def media(dataset: str, local: str, kind: str) -> Any:
    """Provider image servers: no API key involved, so none is checked."""
    state = fake_state()
    try:
        record_id = normalize_record_id(f"/{dataset}/{local}")
    except ValueError:
        return Response("not found", status=404, mimetype="text/plain")
    stored = state.records.get(record_id)
    if stored is None or kind not in ("full", "preview") or not stored.has_media(kind):
        return Response("not found", status=404, mimetype="text/plain")
    if kind == "preview" and state.faults.consume("placeholder_previews"):
        return placeholder_response()  # the Thumbnail API has nothing for this record
    if kind == "full" and state.faults.consume("html_full_images"):
        return Response(PROVIDER_LANDING_PAGE, status=200, mimetype="text/html")
    return Response(media_bytes(stored, kind), mimetype="image/png")


#: What an ``edmIsShownBy`` that points at a web page instead of the file answers.
PROVIDER_LANDING_PAGE = (
    "<!DOCTYPE html><html><head><title>Collection online</title></head>"
    "<body><h1>Object record</h1><img src='/viewer/large.jpg'></body></html>"
)
