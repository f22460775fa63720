"""``create_fake_app``: one Flask app standing in for Search/Record, Annotations, the OIDC
token endpoint and WITH, plus ``/_fake`` admin endpoints to switch faults at run time.

Paths mirror the real services so a client only changes its base URL:

* ``/record/v2/search.json``, ``/record/v2/<dataset>/<local>.json`` — Search / Record API
* ``/record/v3/search.json``, ``/record/v3/<dataset>/<local>.json`` — Search / Record API v3
* ``/fake-media/<dataset>/<local>/{full,preview}.png`` — the images behind ``edmIsShownBy``
* ``/thumbnail/v2/url.json`` — the Thumbnail API, with its "no thumbnail" icon
* ``/fake-provider/…`` — provider servers that misbehave (slow drip, huge, redirects, HTML)
* ``/auth/realms/europeana/protocol/openid-connect/token`` — OIDC token endpoint
* ``/annotation/…`` — Annotations API
* ``/with/…`` — WITH (``/with/user/login``, ``/with/record/annotation``, …)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request

from . import annotation_routes, europeana_routes, provider_routes, thumbnails, with_routes
from .annotation_store import AnnotationStore
from .auth import FakeAccounts, TokenRegistry
from .faults import FaultConfig, FaultState
from .record_store import RecordStore
from .state import EXTENSION_KEY, FakeState, LoggedRequest, fake_state
from .with_store import WithStore

ADMIN_PREFIX = "/_fake"
#: Image downloads (provider servers, the Thumbnail API): an HTML maintenance page there is
#: the "not an image" case, switched separately (``html_full_images``).
MEDIA_PATHS = ("/fake-media", "/fake-provider", "/thumbnail")
MAINTENANCE_PAGE = (
    "<!DOCTYPE html><html><head><title>Europeana APIs - maintenance</title></head>"
    "<body><h1>We'll be back soon</h1><p>The service is being updated.</p></body></html>"
)


def create_fake_app(
    fixtures_dir: Path | None = None,
    faults: FaultConfig | None = None,
    *,
    accounts: FakeAccounts | None = None,
    serve_media_locally: bool = True,
) -> Flask:
    """Build a fresh fake (its own records, annotations, tokens and faults).

    ``fixtures_dir`` is the shared ``fixtures/europeana`` folder (or its ``search_record``
    subfolder); when it is ``None`` or missing, the built-in synthetic records are served.
    """
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]  # the DefaultJSONProvider has it; app.json is typed as its base
    if fixtures_dir is not None and Path(fixtures_dir).is_dir():
        records = RecordStore.from_fixtures(Path(fixtures_dir), serve_media_locally=serve_media_locally)
        source = f"fixtures:{fixtures_dir}"
    else:
        records = RecordStore.synthetic()
        source = "synthetic"
    accounts = accounts or FakeAccounts()
    app.extensions[EXTENSION_KEY] = FakeState(
        records=records,
        annotations=AnnotationStore(),
        with_store=WithStore(records.all(), accounts.with_users, usernames=accounts.with_usernames),
        tokens=TokenRegistry(),
        accounts=accounts,
        faults=FaultState(faults),
        source=source,
    )

    app.before_request(_inject_faults)
    app.after_request(_log_request)
    app.register_blueprint(europeana_routes.blueprint)
    app.register_blueprint(annotation_routes.blueprint)
    app.register_blueprint(with_routes.blueprint)
    app.register_blueprint(thumbnails.blueprint)
    app.register_blueprint(provider_routes.blueprint)
    _register_admin(app)
    return app


def _inject_faults() -> Response | None:
    """Request-level faults, in the order a real request meets them: slowness, the rate
    limiter at the gateway, then the service failing."""
    if request.path.startswith(ADMIN_PREFIX):
        return None
    faults = fake_state().faults
    if not faults.applies_to(request.path):
        return None
    config = faults.config
    if faults.consume("slow_requests"):
        time.sleep(config.slow_seconds)
    if faults.consume("rate_limited_requests"):
        response = jsonify(
            {
                "success": False,
                "status": 429,
                "error": "Too Many Requests",
                "message": "Rate limit exceeded for policy 'personal'",
            }
        )
        response.status_code = 429
        response.headers["RateLimit"] = f'"personal";r=0;t={config.rate_limit_reset_seconds}'
        response.headers["RateLimit-Policy"] = '"personal";q=10000;w=3600'
        if config.retry_after_header:
            response.headers["Retry-After"] = str(config.rate_limit_reset_seconds)
        return response
    if not request.path.startswith(MEDIA_PATHS) and faults.consume("non_json_responses"):
        # A proxy's or load balancer's maintenance page served with 200 (issue 14, defect 5:
        # the pull crashed on one with a JSONDecodeError). Clients must neither crash on it
        # nor take it for an empty result.
        return Response(MAINTENANCE_PAGE, status=200, mimetype="text/html")
    if faults.consume("server_errors"):
        response = jsonify(
            {
                "success": False,
                "status": config.server_error_status,
                "error": "Service Unavailable",
                "message": "fake outage (injected fault)",
            }
        )
        response.status_code = config.server_error_status
        return response
    return None


def _log_request(response: Response) -> Response:
    if not request.path.startswith(ADMIN_PREFIX):
        fake_state().log(
            LoggedRequest(
                method=request.method,
                path=request.path,
                query=request.query_string.decode("latin-1"),
                status=response.status_code,
                api_key_header=request.headers.get("X-Api-Key"),
                api_key_param=request.args.get("wskey"),
                bearer=request.headers.get("Authorization", "").lower().startswith("bearer "),
            )
        )
    return response


def _register_admin(app: Flask) -> None:
    @app.get(f"{ADMIN_PREFIX}/faults")
    def get_faults() -> Any:
        return jsonify(fake_state().faults.snapshot())

    @app.post(f"{ADMIN_PREFIX}/faults")
    def set_faults() -> Any:
        changes = request.get_json(silent=True)
        if not isinstance(changes, dict):
            return jsonify({"error": "expected a JSON object of fault settings"}), 400
        try:
            fake_state().faults.update(changes)
        except (KeyError, TypeError) as exc:
            return jsonify({"error": str(exc)}), 400
        return jsonify(fake_state().faults.snapshot())

    @app.delete(f"{ADMIN_PREFIX}/faults")
    def reset_faults() -> Any:
        fake_state().faults.reset()
        return jsonify(fake_state().faults.snapshot())

    @app.post(f"{ADMIN_PREFIX}/tokens/expire")
    def expire_tokens() -> Any:
        return jsonify({"expired": fake_state().tokens.expire_all()})

    @app.post(f"{ADMIN_PREFIX}/with/sessions/expire")
    def expire_with_sessions() -> Any:
        return jsonify({"expired": fake_state().with_store.expire_sessions()})

    @app.get(f"{ADMIN_PREFIX}/requests")
    def list_requests() -> Any:
        return jsonify([r.to_json() for r in fake_state().logged(request.args.get("path", ""))])

    @app.delete(f"{ADMIN_PREFIX}/requests")
    def clear_requests() -> Any:
        fake_state().clear_log()
        return Response(status=204)

    @app.get(f"{ADMIN_PREFIX}/annotations")
    def list_annotations() -> Any:
        return jsonify(
            [{**a.to_json(), "deleted": a.deleted} for a in fake_state().annotations.all(include_deleted=True)]
        )

    @app.get(f"{ADMIN_PREFIX}/with/annotations")
    def list_with_annotations() -> Any:
        return jsonify([a.to_json() for a in fake_state().with_store.all_annotations()])

    @app.get(f"{ADMIN_PREFIX}/info")
    def info() -> Any:
        state = fake_state()
        base = request.host_url.rstrip("/")
        return jsonify(
            {
                "source": state.source,
                "records": len(state.records),
                "endpoints": {
                    "europeana_api": base,
                    "token_url": base + annotation_routes.TOKEN_PATH,
                    "with_api": base + with_routes.blueprint.url_prefix,
                },
                "with_collection_id": state.with_store.collection_id,
                "credentials": {
                    "api_key": "any non-empty key" if not state.accounts.api_keys else "configured",
                    "oidc_clients": {
                        c.client_id: {"secret": c.secret, "write": c.can_write} for c in state.accounts.clients.values()
                    },
                    "oidc_users": {
                        u.username: {"password": u.password, "write": u.can_write}
                        for u in state.accounts.users.values()
                    },
                    "with_users": dict(state.accounts.with_users),
                },
            }
        )
