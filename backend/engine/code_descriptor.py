"""The ``code`` descriptor: a trained binary code computed from the ``cnn`` embedding.

A retrieval-code head (``artsnap train-codes``, registered with ``artsnap models register``)
maps the frozen embedding to a few dozen bits; the collection keeps them in a binary index
(``code_index_factory``, Hamming distance): 8 bytes per item at 64 bits. Because the code is a
function of the ``cnn`` vector, it is *derived*: ingest and search compute ``cnn`` once and the
head on top (``describe_all``), and ``artsnap reindex --only code`` fills a collection's codes
from the ``cnn`` vectors its index already holds, without decoding an image.

Only the registry's *active* code model is used, loaded once per process; its version is the
code index's model version, so a collection indexed with another head is refused with the
usual "rebuild it with artsnap reindex".
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from edge_models.code_model import CODE_TASK, CodeModel

from .binary_index import to_unit_codes
from .catalog.store import Catalog
from .descriptors import Descriptor
from .embedding_space import EmbeddingSpaceError, check_card_space
from .model_registry import active_model

log = logging.getLogger(__name__)


class CodeDescriptor:
    name = "code"
    binary = True
    source = "cnn"

    def __init__(self, cnn: Descriptor, model: CodeModel, *, model_name: str | None = None) -> None:
        if not model.config.binary:
            raise ValueError(
                f"code model {model.config.name} {model.version} gives float embeddings ({model.config.method}); "
                "only binary codes (method csq) are indexed"
            )
        if model.config.input_dim != cnn.dim:
            raise ValueError(f"code model expects {model.config.input_dim}-d embeddings, the cnn gives {cnn.dim}")
        self.cnn = cnn
        self.model = model
        self.dim = model.config.bits
        self._model_name = model_name or model.config.name

    @property
    def version(self) -> str:
        return self.model.version

    def describe(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self.from_source(self.cnn.describe(images))

    def from_source(self, cnn_vectors: np.ndarray) -> np.ndarray:
        """Codes of ``cnn`` vectors, as unit vectors of ±1/√bits (see :mod:`.binary_index`)."""
        if len(cnn_vectors) == 0:
            return np.zeros((0, self.dim), np.float32)
        return to_unit_codes(self.model.encode(cnn_vectors))

    def info(self) -> dict[str, Any]:
        return {"descriptor": self.name, "model": self._model_name, "version": self.version, "provider": "onnxruntime"}


def active_code_descriptor(catalog: Catalog, cnn: Descriptor) -> CodeDescriptor | None:
    """The registry's active code model as a descriptor, or None (none registered, or unusable: logged)."""
    model = active_model(catalog, CODE_TASK)
    if model is None:
        return None
    try:
        check_card_space(model.card)
        return CodeDescriptor(cnn, CodeModel.load(model.path, threads=1, device="cpu"), model_name=model.name)
    except (OSError, ValueError, KeyError, EmbeddingSpaceError) as exc:
        log.error("active code model %s %s cannot be used: %s", model.name, model.version, exc)
        return None
