"""The Flask application factory (HTTP → services → engine; this layer only parses and shapes).

``create_app()`` builds a fresh app around one :class:`Engine`; there are no module-level
globals, so tests can run several apps with different data folders in one process.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, request

from ..config import Settings
from ..engine.services import Engine
from . import auth, rate_limits
from .audit import record_write
from .errors import register_error_handlers
from .metrics import Metrics
from .requests_parsing import UploadRequest
from .security_headers import add_security_headers
from .strict_json import StrictJSONProvider


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> Flask:
    settings = settings or (engine.settings if engine else Settings.from_env())
    app = Flask(__name__, static_folder=None)
    app.request_class = UploadRequest  # photo uploads parsed in memory (see the class)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes
    app.config["ARTSNAP_CHECK_RESPONSES"] = settings.check_responses
    app.json = StrictJSONProvider(app)  # no NaN/Infinity out, depth- and finiteness-checked in
    app.extensions["artsnap.engine"] = engine or Engine.open(settings)
    app.extensions["artsnap.metrics"] = Metrics()

    from . import item_routes, model_routes, search_routes, system_routes, web_routes, widget_routes

    blueprints = (search_routes.bp, item_routes.bp, model_routes.bp, system_routes.bp, web_routes.bp, widget_routes.bp)
    for bp in blueprints:
        app.register_blueprint(bp)
    register_error_handlers(app)

    # Who calls (and CORS preflights), then their rate limit, then the route's scope.
    app.before_request(auth.identify)
    rate_limits.install(app, settings)
    app.before_request(auth.authorize)
    app.after_request(auth.add_cors_headers)
    app.after_request(record_write)

    @app.before_request
    def _start_timer() -> None:
        g.t0 = time.perf_counter()

    @app.after_request
    def _observe(resp: Response) -> Response:
        m: Metrics = app.extensions["artsnap.metrics"]
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        m.requests.labels(endpoint=endpoint, method=request.method, status=str(resp.status_code)).inc()
        if "t0" in g:
            m.latency.labels(endpoint=endpoint).observe(time.perf_counter() - g.t0)
            resp.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - g.t0) * 1000:.1f}"
        return add_security_headers(resp)

    logging.getLogger("backend").setLevel(logging.INFO)
    return app
