"""Models for phones: ``GET /v1/models/latest`` (and by version) with the card and download URLs.

``?platform=android|ios`` adds ``delivery``: the one file that platform should download (its
URL, SHA-256, size, format, precision, minimum runtime and outputs); ``?precision=`` picks
another precision. Answers carry an ``ETag`` and honour ``If-None-Match`` with 304, so a phone
polling on every launch downloads nothing when nothing changed; file downloads use the file's
SHA-256 as their ETag.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request, send_file, url_for
from flask.typing import ResponseReturnValue

from ..engine.embedding_space import server_space
from ..engine.model_registry import (
    CLASSIFICATION,
    NoDelivery,
    RegisteredModel,
    StaleModelFile,
    UnknownModel,
    active_model,
    get_model,
    list_models,
    model_space,
)
from .context import engine
from .errors import APIError

bp = Blueprint("models", __name__, url_prefix="/v1/models")


def _file_json(m: RegisteredModel, key: str) -> dict[str, Any]:
    sizes = m.card.get("metrics", {}).get("file_sizes_bytes", {})
    return {
        "name": m.files[key],
        "url": url_for("models.download", version=m.version, key=key),
        "bytes": sizes.get(key),
        "sha256": m.sha256.get(key),
    }


def _model_json(m: RegisteredModel) -> dict[str, Any]:
    files = {key: {**_file_json(m, key), **d.to_dict()} for key, d in m.deliveries().items()}
    card = {k: v for k, v in m.card.items() if k not in ("files", "file_sha256", "registry")}
    space = model_space(m)
    return {
        "name": m.name,
        "version": m.version,
        "task": m.task,
        "active": m.active,
        "created_at": m.created_at,
        "files": files,
        # The space of the model's `embedding` output: send it with a vector search. Only a
        # model in this server's space can search by vector (`vector_search`).
        "embedding_space": space,
        "vector_search": space is not None and space == server_space(),
        "card": card,
    }


def _conditional(body: dict[str, Any]) -> ResponseReturnValue:
    resp = jsonify(body)
    resp.add_etag()  # a hash of the body: it changes whenever anything in the answer does
    resp.headers["Cache-Control"] = "no-cache"  # revalidate every time; a 304 costs nothing
    return resp.make_conditional(request)


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
    body = _model_json(m)
    platform = request.args.get("platform")
    precision = request.args.get("precision")
    if precision is not None and platform is None:
        raise APIError(400, "bad_platform", "?precision= needs ?platform=android|ios")
    if platform is not None:
        try:
            d = m.delivery(platform, precision)
        except ValueError as exc:
            raise APIError(400, "bad_platform", str(exc)) from exc
        except NoDelivery as exc:
            raise APIError(404, "no_delivery", str(exc)) from exc
        body["delivery"] = {"key": d.key, **body["files"][d.key]}
    return _conditional(body)


@bp.get("/<version>")
def by_version(version: str) -> ResponseReturnValue:
    try:
        return _conditional(_model_json(get_model(engine().catalog, version=version)))
    except UnknownModel as exc:
        raise _not_found(exc) from exc


@bp.get("/<version>/files/<key>")
def download(version: str, key: str) -> ResponseReturnValue:
    try:
        m = get_model(engine().catalog, version=version)
        path = m.file_path(key)
    except StaleModelFile as exc:
        raise APIError(409, "model_files_changed", str(exc)) from exc
    except UnknownModel as exc:
        raise _not_found(exc) from exc
    return send_file(
        path,
        as_attachment=True,
        download_name=path.name,
        max_age=86400,
        conditional=True,
        etag=m.sha256.get(key) or True,
    )
