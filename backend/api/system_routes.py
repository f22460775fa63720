"""Operational endpoints: health, Prometheus metrics, the OpenAPI document."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from flask.typing import ResponseReturnValue
from prometheus_client import generate_latest
from sqlalchemy import text

from .context import engine, metrics
from .openapi import answers, api, openapi_document, requires
from .response_models import Health

bp = Blueprint("system", __name__)


@bp.get("/healthz")
@requires(None)
@api.validate(
    resp=answers(
        {200: Health, 503: Health},
        text={503: "Degraded: the database or the vector store does not answer (`down` names which)"},
    )
)
def healthz() -> ResponseReturnValue:
    """Health"""
    eng = engine()
    try:
        with eng.catalog.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        db_ok = True
    except Exception:
        db_ok = False
    store = eng.index_store.health()
    ok = db_ok and store["status"] == "ok"
    body = {
        "status": "ok" if ok else "degraded",
        "database": "ok" if db_ok else "unreachable",
        "vector_store": store,
        "down": [name for name, up in (("database", db_ok), ("vector_store", store["status"] == "ok")) if not up],
        "collections": eng.catalog.collection_names() if db_ok else [],
        "models_loaded": [d.info() for d in eng.descriptors.values() if getattr(d, "_model", True) is not None],
    }
    return jsonify(body), 200 if ok else 503


@bp.get("/metrics")
@requires("admin")
@api.validate(resp=answers({200: None}, text={200: "Prometheus text format"}))
def prometheus() -> ResponseReturnValue:
    """Prometheus metrics (per worker)"""
    return Response(generate_latest(metrics().registry), mimetype="text/plain; version=0.0.4")


@bp.get("/openapi.json")
@requires(None)
@api.validate(resp=answers({200: None}, text={200: "This document (OpenAPI 3.1)"}))
def openapi() -> ResponseReturnValue:
    """This document"""
    return jsonify(openapi_document(current_app))
