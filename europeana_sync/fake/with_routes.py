"""Fake WITH platform, mounted under ``/with``.

The session is a ``PLAY_SESSION`` cookie as in WITH (a Play application); an expired or
missing session makes writes answer 400 ``{"error": "User not logged in"}``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from .record_store import absolutize_media
from .state import fake_state
from .with_store import DEMO_COLLECTION_NAME, WithRefused

blueprint = Blueprint("fake_with", __name__, url_prefix="/with")

SESSION_COOKIE = "PLAY_SESSION"


def _error(status: int, message: str) -> Any:
    return jsonify({"error": message}), status


@blueprint.post("/user/login")
def login() -> Any:
    state = fake_state()
    payload = request.get_json(silent=True) or {}
    email = payload.get("email") or payload.get("username") or ""
    try:
        session_id, entry = state.with_store.login(
            email, payload.get("password") or "", state.faults.config.with_session_seconds
        )
    except WithRefused as exc:
        return _error(exc.status, exc.message)
    response = jsonify({"dbId": entry.user_id, "username": email.split("@")[0], "email": email})
    response.set_cookie(SESSION_COOKIE, session_id, httponly=True, path="/")
    return response


@blueprint.post("/record/annotation")
def add_annotation() -> Any:
    state = fake_state()
    session = state.with_store.session(request.cookies.get(SESSION_COOKIE))
    if session is None:
        return _error(400, "User not logged in")
    try:
        entry = state.with_store.add_annotation(request.get_json(silent=True), session.user_id)
    except WithRefused as exc:
        return _error(exc.status, exc.message)
    return jsonify(entry.to_json())


@blueprint.delete("/annotation/<db_id>")
def delete_annotation(db_id: str) -> Any:
    state = fake_state()
    session = state.with_store.session(request.cookies.get(SESSION_COOKIE))
    if session is None:
        return _error(400, "User not logged in")
    try:
        remaining = state.with_store.delete_annotation(db_id, session.user_id)
    except WithRefused as exc:
        return _error(exc.status, exc.message)
    return jsonify(remaining.to_json()) if remaining is not None else ("", 200)


@blueprint.get("/record/<record_id>/listAnnotations")
def list_annotations(record_id: str) -> Any:
    store = fake_state().with_store
    if record_id not in store.records:
        return _error(404, f"Record {record_id} not found")
    return jsonify([a.to_json() for a in store.annotations_of(record_id)])


@blueprint.get("/collection/list")
def list_collections() -> Any:
    store = fake_state().with_store
    return jsonify(
        {
            "totalCollections": 1,
            "collectionsOrExhibitions": [
                {
                    "dbId": store.collection_id,
                    "descriptiveData": {"label": {"default": [DEMO_COLLECTION_NAME]}},
                    "administrative": {"entryCount": len(store.records)},
                }
            ],
        }
    )


@blueprint.get("/collection/<collection_id>/list")
def list_collection(collection_id: str) -> Any:
    store = fake_state().with_store
    if collection_id != store.collection_id:
        return _error(404, f"Collection {collection_id} not found")
    try:
        start = max(0, int(request.args.get("start", 0)))
        count = max(0, int(request.args.get("count", 10)))
    except ValueError:
        return _error(400, "Invalid start/count")
    records = list(store.records.values())
    page = absolutize_media(records[start : start + count], request.host_url.rstrip("/"))
    return jsonify({"entryCount": len(records), "records": page})
