"""How handlers reach the engine: through the app, never through a module global."""
from __future__ import annotations

from flask import current_app

from ..engine.services import Engine
from .metrics import Metrics


def engine() -> Engine:
    return current_app.extensions["artsnap.engine"]


def metrics() -> Metrics:
    return current_app.extensions["artsnap.metrics"]
