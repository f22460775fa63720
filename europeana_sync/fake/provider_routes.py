"""Fake provider image servers that misbehave the ways real ones do, under ``/fake-provider``.

``edmIsShownBy`` and ``edmPreview`` point at thousands of servers no one vouches for; these
endpoints give the safe fetcher (:mod:`europeana_sync.fetch`) something to be safe against
(issue 14, defect 4: 60 MiB read into memory before the size check, redirects followed to
loopback, no Content-Type check, a per-read timeout that a slow drip never trips):

* ``/fake-provider/image.png`` — a small real PNG (``?content_type=`` overrides the header);
* ``/fake-provider/drip.png?bytes=N&interval=S`` — announces N bytes of PNG, then sends one
  byte every S seconds: each read is quick, the whole takes N·S seconds;
* ``/fake-provider/huge.png?bytes=N&length=announce|omit`` — N bytes of PNG-looking data,
  with a true Content-Length or streamed (chunked) without one;
* ``/fake-provider/redirect?to=URL`` — 302 to any URL, e.g. the cloud metadata address
  ``http://169.254.169.254/latest/meta-data/`` or ``http://localhost:…`` (the SSRF targets);
* ``/fake-provider/loop`` — a redirect to itself; ``/fake-provider/chain/N`` — N redirects;
* ``/fake-provider/landing.html`` — 200 ``text/html``, a provider's web page instead of the file;
* ``/fake-provider/placeholder.png`` — the Thumbnail API's "no thumbnail" stand-in.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, redirect, request, stream_with_context

from .synthetic import render_png
from .thumbnails import placeholder_response

blueprint = Blueprint("fake_provider", __name__, url_prefix="/fake-provider")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_CHAIN = 50


def _int_arg(name: str, default: int, upper: int) -> int:
    try:
        return max(0, min(int(request.args.get(name, default)), upper))
    except ValueError:
        return default


@blueprint.get("/image.png")
def image() -> Any:
    data = render_png("/fake-provider/image", size=(320, 240))
    return Response(data, content_type=request.args.get("content_type", "image/png"))


@blueprint.get("/drip.png")
def drip() -> Any:
    total = _int_arg("bytes", 2000, 10_000_000)
    try:
        interval = max(0.0, min(float(request.args.get("interval", 0.05)), 5.0))
    except ValueError:
        interval = 0.05

    def body() -> Iterator[bytes]:
        payload = (PNG_SIGNATURE + b"\x00" * total)[:total]
        for index in range(total):
            yield payload[index : index + 1]
            time.sleep(interval)

    response = Response(stream_with_context(body()), content_type="image/png")
    response.headers["Content-Length"] = str(total)
    return response


@blueprint.get("/huge.png")
def huge() -> Any:
    total = _int_arg("bytes", 64 * 1024 * 1024, 1 << 31)
    announce = request.args.get("length", "announce") != "omit"

    def body() -> Iterator[bytes]:
        chunk = b"\x00" * 65536
        yield PNG_SIGNATURE
        left = total - len(PNG_SIGNATURE)
        while left > 0:
            piece = chunk[: min(left, len(chunk))]
            left -= len(piece)
            yield piece

    response = Response(stream_with_context(body()), content_type="image/png")
    if announce:
        response.headers["Content-Length"] = str(total)
    return response


@blueprint.get("/redirect")
def redirect_to() -> Any:
    target = request.args.get("to", "")
    return redirect(target, code=_int_arg("status", 302, 308) or 302)


@blueprint.get("/loop")
def loop() -> Any:
    return redirect(request.base_url, code=302)


@blueprint.get("/chain/<int:left>")
def chain(left: int) -> Any:
    if left <= 0:
        return image()
    return redirect(f"{request.host_url}fake-provider/chain/{min(left, MAX_CHAIN) - 1}", code=302)


@blueprint.get("/landing.html")
def landing() -> Any:
    return Response(
        "<!DOCTYPE html><html><head><title>Object 1234</title></head><body><img src='large.jpg'></body></html>",
        content_type="text/html; charset=utf-8",
    )


@blueprint.get("/placeholder.png")
def placeholder() -> Any:
    return placeholder_response()
