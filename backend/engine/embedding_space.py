"""Embedding spaces: which function made a vector, so a phone's vector is only compared with its own kind.

A vector is a point in the space of the function that computed it: backbone weights and the
preprocessing that fed them. Two vectors of 1 280 numbers from different functions compare
without error and rank nonsense, so every vector a phone sends names its space, and the
server refuses one that is not the space of its catalogue index.

A space is written ``NAME@HASH``: NAME says what the network is (``efficientnet-lite0-imagenet``
for the frozen backbone, ``fine-tuned:VERSION`` for a fine-tuned one), HASH is a short hash of
the weights file and the preprocessing spec. The server's space is that of its ``cnn``
descriptor; a classifier card declares its space in ``extra.embedding_space`` and carries its
``weights_sha256`` and ``preprocessing``, so the registry derives the same id for a classifier
trained on the frozen backbone on this server. The torch and exporter versions are left out on
purpose: they change the file the server runs, not the function (the ONNX and phone exports
are checked against torch at 1e-3), and a phone model must not turn "foreign" when the server
upgrades torch.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from edge_models.embedding_variants import DEFAULT_EMBEDDING_MODEL, embedding_variant, variant_weights_sha256
from edge_models.preprocessing import DEFAULT_SPEC, PreprocessSpec
from edge_models.weights import BACKBONE_NAME, EMBEDDING_DIM, weights_sha256

#: What the frozen backbone's space is called in classifier cards (BackboneChoice.embedding_space).
SERVER_SPACE_NAME = f"{BACKBONE_NAME}-imagenet"


class EmbeddingSpaceError(ValueError):
    """A vector or a model whose embedding space does not fit this server; the message says what to do."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def space_id(name: str, *, weights: str | None, preprocessing: Mapping[str, Any] | PreprocessSpec) -> str:
    """``NAME@HASH`` of a backbone's weights file and its preprocessing (see the module docstring)."""
    spec = preprocessing if isinstance(preprocessing, PreprocessSpec) else PreprocessSpec.from_dict(dict(preprocessing))
    blob = json.dumps({"weights": weights or "", "spec": spec.to_dict()}, sort_keys=True)
    return f"{name}@{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


@lru_cache(maxsize=4)
def server_space(spec: PreprocessSpec = DEFAULT_SPEC) -> str:
    """The space of the server's ``cnn`` descriptor (and of its catalogue indexes)."""
    return space_id(SERVER_SPACE_NAME, weights=weights_sha256(), preprocessing=spec)


@lru_cache(maxsize=8)
def model_space(model: str = DEFAULT_EMBEDDING_MODEL) -> str:
    """The space of the ``cnn`` descriptor when ``model`` embeds (see :mod:`.model_spaces`);
    the default model's is :func:`server_space`."""
    if model == DEFAULT_EMBEDDING_MODEL:
        return server_space()
    variant = embedding_variant(model)
    return space_id(f"{model}-imagenet", weights=variant_weights_sha256(model), preprocessing=variant.spec)


def card_space(card: Mapping[str, Any]) -> str | None:
    """The space a classifier card's ``embedding`` output lives in, or None when it declares none."""
    declared = (card.get("extra") or {}).get("embedding_space")
    if not declared:
        for out in card.get("outputs") or []:
            if isinstance(out, dict) and out.get("name") == "embedding" and out.get("embedding_space"):
                declared = out["embedding_space"]
    if not declared:
        return None
    declared = str(declared)
    if "@" in declared:  # already a full id
        return declared
    return space_id(declared, weights=card.get("weights_sha256"), preprocessing=card.get("preprocessing") or {})


def check_card_space(card: Mapping[str, Any]) -> str | None:
    """The card's space id; refuses a card that claims the server's backbone but differs from it.

    A classifier that says its embeddings are the frozen EfficientNet-Lite0's (so phones would
    search by vector with it) must have the server's weights, preprocessing and dimension;
    otherwise every vector search from its phones would rank nonsense. A fine-tuned or
    other-backbone model declares its own space: it registers, and phones search by photo.
    """
    space = card_space(card)
    if space is None or space.split("@", 1)[0] != SERVER_SPACE_NAME:
        return space
    ours = server_space()
    dim = next(
        (
            o.get("shape", [0, 0])[-1]
            for o in card.get("outputs") or []
            if isinstance(o, dict) and o.get("name") == "embedding"
        ),
        EMBEDDING_DIM,
    )
    if space != ours or dim != EMBEDDING_DIM:
        raise EmbeddingSpaceError(
            "foreign_embedding_space",
            f"model {card.get('name')} {card.get('version')} says its embeddings are {SERVER_SPACE_NAME} "
            f"({space}, {dim} numbers) but this server's catalogue is {ours} ({EMBEDDING_DIM} numbers): "
            "different weights or preprocessing, so phones could not search by vector with it. "
            "Train it on this server (`artsnap train-classifier SOURCE --out DIR`) and export that.",
        )
    return space


def check_vector_space(descriptor: str, declared: str | None, expected: str) -> None:
    """Refuse a phone's vector whose declared space is missing or is not the server's."""
    if not declared:
        raise EmbeddingSpaceError(
            "missing_embedding_space",
            f"say which embedding space the {descriptor!r} vector is in: send 'embedding_space' "
            f"(this server's is {expected!r}; GET /v1/models/latest gives the model that computes it)",
        )
    if declared != expected:
        raise EmbeddingSpaceError(
            "foreign_embedding_space",
            f"the {descriptor!r} vector is in embedding space {declared!r}, but this collection is indexed in "
            f"{expected!r}: vectors from different models cannot be compared",
        )
