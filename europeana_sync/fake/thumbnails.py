"""Fake Europeana Thumbnail API v2, with its "no thumbnail" icon.

``GET /thumbnail/v2/url.json?uri=<original>&size=w200|w400&type=IMAGE`` (also under its
older path ``/api/v2/thumbnail-by-url.json``) answers the preview of a record the fake
holds, and otherwise — like the real one — **200** with a generic 293×293 PNG rather than
a 404 (europeana/thumbnail-api at 7709694, ``ThumbnailControllerV2.thumbnailByUrlV2``:
"if there is no image, we return the default 'type' icon", served as ``image/png`` with
its Content-Length; ``AbstractController.generateResponse``).

The real icons are Europeana's files, not ours to ship, so :func:`render_placeholder`
draws a stand-in with their defining properties, measured on the original
``EU_thumbnails_image.png``: 293×293, grey only, a flat 232 background with a 1-pixel 236
frame, a 175-grey rounded picture frame (92,107)-(201,187) holding a sun and two mountains
in the background grey, and a 240 shadow line beneath. Its perceptual hash lies within a
few bits of the original's, so :mod:`europeana_sync.placeholders` — whose fingerprints come
from the real file — recognises it as the real icon would be recognised. The fake draws the
IMAGE icon for every ``type``.
"""

from __future__ import annotations

import functools
import io
import re
from typing import Any

from flask import Blueprint, Response, request

from .state import fake_state

blueprint = Blueprint("fake_thumbnails", __name__)

PLACEHOLDER_SIZE = 293
_FAKE_MEDIA = re.compile(r"/fake-media(?P<record>/[^/]+/[^/]+)/")


@functools.cache
def render_placeholder() -> bytes:
    """The stand-in for ``EU_thumbnails_image.png`` (see the module docstring)."""
    from PIL import Image, ImageDraw

    image = Image.new("L", (PLACEHOLDER_SIZE, PLACEHOLDER_SIZE), 232)
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, PLACEHOLDER_SIZE - 1, PLACEHOLDER_SIZE - 1], outline=236)
    draw.rectangle([92, 188, 201, 188], fill=240)
    draw.rounded_rectangle([92, 107, 201, 187], radius=5, fill=175)
    draw.ellipse([105, 122, 126, 141], fill=232)
    draw.polygon([(108, 175), (122, 158), (133, 166), (161, 136), (191, 175)], fill=232)
    buffer = io.BytesIO()
    image.convert("P").save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def placeholder_response() -> Response:
    data = render_placeholder()
    response = Response(data, status=200, mimetype="image/png")
    response.headers["Content-Length"] = str(len(data))
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@blueprint.get("/thumbnail/v2/url.json")
@blueprint.get("/api/v2/thumbnail-by-url.json")
def thumbnail_by_url() -> Any:
    uri = request.args.get("uri")
    if not uri:
        return Response("Required parameter 'uri' missing", status=400, mimetype="text/plain")
    if not re.match(r"^((https?|ftp)://|urn:).*$", uri):  # the real @Pattern on uri
        return Response("INVALID URL", status=400, mimetype="text/plain")
    state = fake_state()
    match = _FAKE_MEDIA.search(uri)
    stored = state.records.get(match.group("record")) if match else None
    if stored is None or not stored.has_media("preview") or state.faults.consume("placeholder_previews"):
        return placeholder_response()
    from .europeana_routes import media_bytes

    return Response(media_bytes(stored, "preview"), mimetype="image/png")
