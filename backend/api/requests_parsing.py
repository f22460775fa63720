"""Turning requests into engine calls' arguments, with errors a client can act on."""

from __future__ import annotations

import tempfile
from typing import IO, Any

from flask import Request

from .errors import APIError
from .multipart import FastFormDataParser
from .strict_json import MAX_JSON_BYTES, JSONInputError, loads_untrusted

#: An uploaded file part up to this size is parsed into memory; a larger one (a 40 MB TIFF)
#: goes on to a temp file, as Werkzeug does for every part over 500 KB.
IN_MEMORY_PART_BYTES = 8 * 1024 * 1024


class UploadRequest(Request):
    """Flask's request, parsing multipart bodies with python-multipart (:mod:`.multipart`) and
    a photo's part into memory rather than a temp file.

    Werkzeug spools every file part over 500 KB to disk: a phone photo (2–5 MB) was written
    out and read back for every search. Parsing happens while a request computes, one at a
    time per worker, so the memory held is one upload.
    """

    form_data_parser_class = FastFormDataParser

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        return tempfile.SpooledTemporaryFile(max_size=IN_MEMORY_PART_BYTES, mode="rb+")


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


def image_bytes(request: Request, field: str = "image") -> bytes:
    if field not in request.files:
        raise APIError(400, "missing_image", f"multipart field {field!r} with an image file is required")
    data: bytes = request.files[field].read()
    if not data:
        raise APIError(400, "empty", f"the uploaded {field!r} file is empty")
    return data
