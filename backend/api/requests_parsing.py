"""Turning requests into engine calls' arguments, with errors a client can act on."""

from __future__ import annotations

from typing import Any

from flask import Request

from .errors import APIError
from .strict_json import MAX_JSON_BYTES, JSONInputError, loads_untrusted


def json_body(request: Request) -> dict[str, Any]:
    if not request.is_json:
        raise APIError(
            415, "unsupported_media_type", "send multipart/form-data with an 'image' file, or application/json"
        )
    if (request.content_length or 0) > MAX_JSON_BYTES:
        raise APIError(413, "too_large", f"a JSON body may be at most {MAX_JSON_BYTES // 1024} KB")
    try:
        data = loads_untrusted(request.get_data(cache=True) or b"null")
    except JSONInputError as exc:
        raise APIError(400, "bad_json", f"request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise APIError(400, "bad_json", "request body must be a JSON object")
    return data


def form_json(request: Request, field: str) -> Any:
    raw = request.form.get(field)
    if raw is None or raw.strip() == "":
        return None
    try:
        return loads_untrusted(raw)
    except JSONInputError as exc:
        raise APIError(400, "bad_json", f"form field {field!r} is not valid JSON: {exc}") from exc


def image_bytes(request: Request, field: str = "image") -> bytes:
    if field not in request.files:
        raise APIError(400, "missing_image", f"multipart field {field!r} with an image file is required")
    data: bytes = request.files[field].read()
    if not data:
        raise APIError(400, "empty", f"the uploaded {field!r} file is empty")
    return data


def int_arg(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise APIError(400, "bad_request", f"query parameter {name!r} must be an integer") from exc
    if not lo <= value <= hi:
        raise APIError(400, "bad_request", f"query parameter {name!r} must be from {lo} to {hi}")
    return value
