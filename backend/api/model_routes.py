"""Models for phones: ``GET /v1/models/latest`` (and by version) with the card and download URLs."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request, send_file, url_for
from flask.typing import ResponseReturnValue

from ..engine.model_registry import CLASSIFICATION, RegisteredModel, UnknownModel, active_model, get_model, list_models
from .context import engine
from .errors import APIError

bp = Blueprint("models", __name__, url_prefix="/v1/models")


def _model_json(m: RegisteredModel) -> dict[str, Any]:
    sizes = m.card.get("metrics", {}).get("file_sizes_bytes", {})
    sha = m.card.get("file_sha256", {})
    files = {
        key: {
            "name": name,
            "url": url_for("models.download", version=m.version, key=key),
            "bytes": sizes.get(key),
            "sha256": sha.get(key),
        }
        for key, name in sorted(m.files.items())
    }
    card = {k: v for k, v in m.card.items() if k not in ("files", "file_sha256")}
    return {
        "name": m.name,
        "version": m.version,
        "task": m.task,
        "active": m.active,
        "created_at": m.created_at,
        "files": files,
        "card": card,
    }


def _not_found(exc: Exception) -> APIError:
    return APIError(404, "unknown_model", str(exc))


@bp.get("")
def index() -> ResponseReturnValue:
    return jsonify({"models": [_model_json(m) for m in list_models(engine().catalog)]})


@bp.get("/latest")
def latest() -> ResponseReturnValue:
    task = request.args.get("task", CLASSIFICATION)
    m = active_model(engine().catalog, task)
    if m is None:
        raise APIError(
            404, "no_model", f"no active {task} model; train one with `artsnap train-classifier` and register it"
        )
    resp = jsonify(_model_json(m))
    resp.headers["ETag"] = f'"{m.version}"'
    return resp


@bp.get("/<version>")
def by_version(version: str) -> ResponseReturnValue:
    try:
        return jsonify(_model_json(get_model(engine().catalog, version=version)))
    except UnknownModel as exc:
        raise _not_found(exc) from exc


@bp.get("/<version>/files/<key>")
def download(version: str, key: str) -> ResponseReturnValue:
    try:
        m = get_model(engine().catalog, version=version)
        path = m.file_path(key)
    except UnknownModel as exc:
        raise _not_found(exc) from exc
    return send_file(path, as_attachment=True, download_name=path.name, max_age=86400, conditional=True)
