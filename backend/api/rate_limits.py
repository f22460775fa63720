"""Per-key rate limits (flask-limiter), answered with the IETF ``RateLimit`` headers.

One application-wide limit covers every ``/v1/`` route, counted per caller (``auth.Caller``):
a secret key has one counter, a publishable key one per visitor address (every visitor of a
portal shares its key, and one of them must not use up the others' quota), and callers
without a key one per address. The limit is the key's own (``artsnap keys create
--rate-limit``), else ``Settings.rate_limit`` for keys and ``Settings.anonymous_rate_limit``
without one. Local callers of a keyless ``make run`` are not limited; neither are
``/healthz``, the web page and the widget script.

Answers carry ``RateLimit-Policy: "default";q=<quota>;w=<window s>`` and
``RateLimit: "default";r=<remaining>;t=<s to reset>`` (draft-ietf-httpapi-ratelimit-headers),
and a 429 carries ``Retry-After`` in seconds.

*Workers.* Counters live where ``Settings.rate_limit_storage`` says. The default,
``memory://``, counts in each gunicorn worker apart: with N workers a caller gets up to N
times its limit (gunicorn spreads connections, so in practice close to it). The ``limits``
library offers no storage shared between processes without a server; set
``ARTSNAP_RATE_LIMIT_STORAGE=redis://host:6379`` (with the ``redis`` package) for exact counts.
"""

from __future__ import annotations

import math
import time

from flask import Flask, Response, g, request
from flask_limiter import Limiter

from ..config import Settings
from .auth import Caller

POLICY = "default"


def _caller() -> Caller | None:
    caller: Caller | None = g.get("caller")
    return caller


def _key() -> str:
    caller = _caller()
    return caller.rate_key if caller is not None else f"addr:{request.remote_addr or ''}"


def _exempt() -> bool:
    caller = _caller()
    return caller is None or caller.local or not request.path.startswith("/v1/")


def install(app: Flask, settings: Settings) -> Limiter:
    """Limit ``app`` (register after ``auth.identify``, before ``auth.authorize``)."""

    def limit_for_caller() -> str:
        caller = _caller()
        if caller is not None and caller.key is not None and caller.refused is None:
            return caller.key.rate_limit or settings.rate_limit
        return settings.anonymous_rate_limit

    limiter = Limiter(
        _key,
        application_limits=[limit_for_caller],
        application_limits_exempt_when=_exempt,
        storage_uri=settings.rate_limit_storage,
        strategy="fixed-window",
        headers_enabled=False,  # ours are the IETF draft's, below
    )
    limiter.init_app(app)

    @app.after_request
    def _rate_limit_headers(resp: Response) -> Response:
        current = limiter.current_limit
        if current is None:
            return resp
        window = current.limit.get_expiry()
        reset_at, remaining = current.window
        reset_in = min(window, max(0, math.ceil(reset_at - time.time())))
        resp.headers["RateLimit-Policy"] = f'"{POLICY}";q={current.limit.amount};w={window}'
        resp.headers["RateLimit"] = f'"{POLICY}";r={max(0, remaining)};t={reset_in}'
        if resp.status_code == 429:
            resp.headers["Retry-After"] = str(max(1, reset_in))
        return resp

    return limiter
