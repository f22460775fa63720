"""How handlers reach the engine: through the app, never through a module global."""

from __future__ import annotations

from flask import current_app

from ..engine.services import Engine
from .metrics import Metrics


def engine() -> Engine:
    eng: Engine = current_app.extensions["artsnap.engine"]
    return eng


def metrics() -> Metrics:
    m: Metrics = current_app.extensions["artsnap.metrics"]
    return m
