"""Every error leaves the API as ``{"error": {"code", "message"}}`` with a 4xx/5xx status.

Engine exceptions are mapped here, in one table, so handlers stay about the happy path and
a client can switch on ``code`` without parsing English.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from dataset_tools.images import ImageDecodeError

from ..engine.catalog.store import UnknownCollection, UnknownItem
from ..engine.index import IndexConfigError
from ..engine.index_store import CollectionBusy, VectorStoreUnavailable
from ..engine.search_options import OptionsError

log = logging.getLogger(__name__)


class APIError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(status: int, code: str, message: str) -> Response:
    resp = jsonify({"error": {"code": code, "message": message}})
    resp.status_code = status
    return resp


_DECODE_STATUS = {"too_large": 413, "unsupported_format": 415}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(APIError)
    def _api(e: APIError) -> Response:
        return error_response(e.status, e.code, e.message)

    @app.errorhandler(ImageDecodeError)
    def _decode(e: ImageDecodeError) -> Response:
        return error_response(_DECODE_STATUS.get(e.code, 400), e.code, e.message)

    @app.errorhandler(OptionsError)
    def _options(e: OptionsError) -> Response:
        return error_response(400, "bad_options", str(e))

    @app.errorhandler(UnknownCollection)
    def _collection(e: UnknownCollection) -> Response:
        return error_response(
            404, "unknown_collection", f"no collection named {e.name!r}; GET /v1/collections lists them"
        )

    @app.errorhandler(UnknownItem)
    def _item(e: UnknownItem) -> Response:
        return error_response(404, "unknown_item", f"no item with id {e.item_id}")

    @app.errorhandler(CollectionBusy)
    def _busy(e: CollectionBusy) -> Response:
        resp = error_response(503, "collection_busy", str(e))
        resp.headers["Retry-After"] = "5"
        return resp

    @app.errorhandler(VectorStoreUnavailable)
    def _store_down(e: VectorStoreUnavailable) -> Response:
        resp = error_response(503, "vector_store_unavailable", str(e))
        resp.headers["Retry-After"] = "2"
        return resp

    @app.errorhandler(IndexConfigError)
    def _index(e: IndexConfigError) -> Response:
        return error_response(500, "index_config", str(e))

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException) -> Response:
        code = {
            404: "not_found",
            405: "method_not_allowed",
            413: "too_large",
            408: "request_timeout",
            400: "bad_request",
            415: "unsupported_media_type",
            429: "rate_limited",
        }.get(e.code or 500, "http_error")
        message = e.description or e.name
        if e.code == 429:
            message = f"over the rate limit of {message}; wait for the time in Retry-After, then try again"
        if e.code == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            message = f"request body is larger than the {limit // (1024 * 1024)} MB limit" if limit else message
        resp = error_response(e.code or 500, code, message)
        # Keep what the exception says besides its body: Allow on a 405, Retry-After, ...
        for name, value in e.get_headers():
            if name.lower() != "content-type":
                resp.headers[name] = value
        return resp

    @app.errorhandler(Exception)
    def _unexpected(e: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(500, "internal", "internal server error; the server logged the details")
