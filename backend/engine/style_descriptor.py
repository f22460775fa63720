"""The registry's active style model (``artsnap train-style --register``), for the engine.

Loaded once per process with numpy alone. It brings the ``artstyle`` descriptor (a projection
of the backbone's ``layers`` output, computed in the same ONNX run as ``cnn`` and ``style``)
and the descriptor weights chosen on its validation data. A model that cannot be used (files
gone, trained on another backbone's features) is logged and left out: search keeps working
with the other descriptors.
"""

from __future__ import annotations

import logging

from edge_models.style_model import STYLE_TASK, StyleModel, load_style_model

from .catalog.store import Catalog
from .model_registry import active_model

log = logging.getLogger(__name__)


def active_style_model(catalog: Catalog) -> StyleModel | None:
    model = active_model(catalog, STYLE_TASK)
    if model is None:
        return None
    try:
        return load_style_model(model.path)
    except (OSError, ValueError, KeyError) as exc:
        log.error("active style model %s %s cannot be used: %s", model.name, model.version, exc)
        return None
