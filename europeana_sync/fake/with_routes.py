"""Fake WITH platform, mounted under ``/with``.

The session is a ``PLAY_SESSION`` cookie as in WITH (a Play application); an expired or
missing session makes writes answer 400 ``{"error": "User not logged in"}``, and deletes
answer what WITH's ``AnnotationController.deleteAnnotation`` answers without a user (500
or 403 with an empty body, see :meth:`WithStore.delete_annotation`), never "not logged in".

Sources: ails-lab/with at edfbd1a (``app/controllers/UserManager.java``,
``app/controllers/AnnotationController.java``, ``app/filters/SessionFilter.scala``,
``conf/routes``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from .record_store import absolutize_media
from .state import fake_state
from .with_store import DEMO_COLLECTION_NAME, WithRefused, WithSessionEntry

blueprint = Blueprint("fake_with", __name__, url_prefix="/with")

SESSION_COOKIE = "PLAY_SESSION"


def _error(status: int, message: str | dict[str, str]) -> Any:
    if not message:  # WITH's bare badRequest() / forbidden() / internalServerError()
        return Response(b"", status=status)
    return jsonify({"error": message}), status


def _user_json(entry: WithSessionEntry) -> dict[str, Any]:
    """``UserManager.addTokenToUser``: the user plus a token."""
    return {"dbId": entry.user_id, "username": entry.username, "email": entry.email, "token": entry.user_id[::-1]}


@blueprint.post("/user/login")
def login() -> Any:
    """``UserManager.login``: only the ``email`` key is read; its value is looked up as an
    email, then as a username. No ``email`` key (e.g. ``{"username": …}``) is 400
    ``{"error": {"email": "Need Email or Username"}}``; an unknown one 400 ``Invalid Email
    Address or Username``; a wrong password 400 ``{"error": {"password": "Invalid
    Password"}}``. Never 401."""
    state = fake_state()
    payload = request.get_json(silent=True) or {}
    if "email" not in payload:
        return _error(400, {"email": "Need Email or Username"})
    if "password" not in payload:
        return _error(400, {"password": "Password is Empty"})
    try:
        session_id, entry = state.with_store.login(
            str(payload["email"]), str(payload["password"]), state.faults.config.with_session_seconds
        )
    except WithRefused as exc:
        return _error(exc.status, exc.detail or exc.message)
    response = jsonify(_user_json(entry))
    response.set_cookie(SESSION_COOKIE, session_id, httponly=True, path="/")
    return response


@blueprint.get("/user/me")
def me() -> Any:
    """``UserManager.getMyUser``: the logged-in user, or an empty 400 without one."""
    session = fake_state().with_store.session(request.cookies.get(SESSION_COOKIE))
    if session is None:
        return _error(400, "")
    return jsonify(_user_json(session))


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
    # No "User not logged in" here: deleteAnnotation never checks for a user (see
    # WithStore.delete_annotation for what it does instead).
    try:
        remaining = state.with_store.delete_annotation(db_id, session.user_id if session else None)
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
