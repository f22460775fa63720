"""Security headers on every response, and the stricter ones for stored images.

* The web page loads only its own scripts, styles and images (plus the ``blob:`` preview of
  the visitor's own photo) and calls only its own API, so its Content-Security-Policy says
  exactly that; it may not be framed by other sites (clickjacking).
* Everything else (JSON, files) gets ``default-src 'none'``: none of it is a document that
  should run or load anything if a browser is tricked into rendering it.
* Stored originals are served byte for byte, and an upload can carry HTML after its image
  data. A response for a stored picture therefore names an image type from a fixed table
  (never a sniffed one), forbids sniffing, and sandboxes itself: opened directly, such a
  file cannot run script or reach our origin.

Responses from other sites that embed our thumbnails (the heritage widget) are not affected:
a CSP applies to the document it is sent with, not to an ``<img>`` that loads it.
"""

from __future__ import annotations

from pathlib import Path

from flask import Response

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
API_CSP = "default-src 'none'; frame-ancestors 'none'"
MEDIA_CSP = "default-src 'none'; sandbox; frame-ancestors 'none'"

#: The only types a stored picture is served as (by its stored extension).
MEDIA_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}


def media_type(path: Path) -> str:
    """The Content-Type of a stored picture; anything unexpected is served as opaque bytes."""
    return MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")


def mark_as_media(resp: Response) -> Response:
    """Headers for a stored upload (see the module docstring)."""
    resp.headers["Content-Security-Policy"] = MEDIA_CSP
    resp.headers["Content-Disposition"] = "inline"
    return resp


def add_security_headers(resp: Response) -> Response:
    """Set the defaults a handler has not set itself (``after_request``)."""
    is_page = resp.mimetype == "text/html"
    resp.headers.setdefault("Content-Security-Policy", PAGE_CSP if is_page else API_CSP)
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("X-Frame-Options", "DENY")
    resp.headers.setdefault("Referrer-Policy", "no-referrer")
    return resp
