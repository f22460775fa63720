"""The active category classifier, as ingest and search use it.

Looks up the registry's active classification model and loads its exported
``classifier.onnx`` lazily, once per version, in ONNX Runtime (never torch: a model folder
without the ONNX file is reported, not exported here).
When a newer model is activated (``artsnap models register``), the next call picks it up.
With no active model it labels nothing, so a fresh install works without one.

What it returns is stored as machine labels, which become hidden labels for related images
and candidates for the curator's export to Europeana: so only labels that pass the model's
*trusted* threshold (chosen on validation for a stated precision, written in the model card)
are returned, not every answer above the looser abstain threshold.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from PIL import Image

from edge_models.classifier import load_classifier

from .catalog.store import Catalog
from .model_registry import CLASSIFICATION, active_model

log = logging.getLogger(__name__)


class ActiveClassifier:
    def __init__(
        self, catalog: Catalog, *, top_k: int = 3, recheck_s: float = 30.0, threads: int = 0, device: str = "auto"
    ) -> None:
        self.catalog = catalog
        self.threads = threads
        self.device = device
        self.top_k = top_k
        self.recheck_s = recheck_s
        self._lock = threading.Lock()
        self._loaded: Any = None
        self._version_id: int | None = None
        self._checked_at = -1e9

    def _current(self) -> Any:
        now = time.monotonic()
        if now - self._checked_at < self.recheck_s:
            return self._loaded
        with self._lock:
            self._checked_at = now
            model = active_model(self.catalog, CLASSIFICATION)
            if model is None:
                self._loaded, self._version_id = None, None
            elif model.id != self._version_id:
                try:
                    self._loaded = load_classifier(model.path, threads=self.threads, device=self.device)
                    self._version_id = model.id
                    log.info("classifier %s %s loaded", model.name, model.version)
                except (OSError, ValueError, KeyError) as exc:
                    log.error("active classifier %s cannot be loaded: %s", model.version, exc)
                    self._loaded, self._version_id = None, None
            return self._loaded

    @property
    def model_version_id(self) -> int | None:
        self._current()
        return self._version_id

    def info(self) -> dict[str, Any] | None:
        clf = self._current()
        return None if clf is None else {"model": clf.config.name, "version": clf.version, "labels": clf.labels}

    def __call__(self, images: Sequence[Image.Image]) -> list[list[tuple[str, float]]]:
        clf = self._current()
        if clf is None or not images:
            return [[] for _ in images]
        preds = clf.predict(list(images), top_k=self.top_k, trusted=True)
        return [[(p.label, float(p.confidence)) for p in row] for row in preds]
