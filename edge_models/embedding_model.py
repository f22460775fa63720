"""The server's embedding model on disk: where it is cached, its version, and getting it built.

Serving must not import torch (seconds and ~180 MB per gunicorn worker), yet the weights ship
as a torch package. So the ONNX file is built once per (weights, preprocessing, exporter,
torch) key by :mod:`edge_models.onnx_export` **in a child process**, and everything a server
needs afterwards, the cache key, the file's path and its card, lives here, torch-free.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
from pathlib import Path

from filelock import FileLock

from .embedding_variants import DEFAULT_EMBEDDING_MODEL, embedding_variant, variant_weights_sha256
from .model_card import ModelCard
from .preprocessing import DEFAULT_SPEC, PreprocessSpec
from .style_spec import style_recipe
from .weights import torch_version, weights_sha256

log = logging.getLogger(__name__)

#: Bump when the exported graph changes shape or semantics (2: int8-grid weights; 3: the
#: ``style`` and ``layers`` outputs, with the style projection fitted on generated paintings).
EXPORT_FORMAT_VERSION = 3


class EmbeddingExportError(RuntimeError):
    """Building the ONNX embedding model failed; the message carries the exporter's output."""


def embedding_cache_key(spec: PreprocessSpec | None = None, model: str = DEFAULT_EMBEDDING_MODEL) -> str:
    """The embedding space's version: changes whenever any input to the vectors changes.

    ``spec`` defaults to the variant's own preprocessing. The default model's key leaves the
    model's name out and carries the style recipe (only Lite0's graph has the style outputs,
    see :class:`edge_models.backbone.ContentEmbeddingNet`).
    """
    spec = spec or embedding_variant(model).spec
    fields: dict[str, object] = {
        "weights": variant_weights_sha256(model),
        "spec": spec.to_dict(),
        "v": EXPORT_FORMAT_VERSION,
        "torch": torch_version(),
    }
    if model != DEFAULT_EMBEDDING_MODEL:
        fields["model"] = model
    else:
        fields["style"] = style_recipe()
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def layers_key(spec: PreprocessSpec = DEFAULT_SPEC) -> str:
    """What the default graph's ``layers`` output means (weights, preprocessing, graph, style
    recipe), without the torch version: a head trained on these features stays valid across exports."""
    blob = json.dumps(
        {"weights": weights_sha256(), "spec": spec.to_dict(), "v": EXPORT_FORMAT_VERSION, "style": style_recipe()},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def embedding_model_paths(
    cache_dir: Path, spec: PreprocessSpec | None = None, model: str = DEFAULT_EMBEDDING_MODEL
) -> tuple[Path, Path]:
    """(onnx file, card file) for ``model`` and ``spec`` in ``cache_dir``."""
    onnx_path = Path(cache_dir) / f"{model}-embed-{embedding_cache_key(spec, model)}.onnx"
    return onnx_path, onnx_path.with_suffix(".card.json")


def ensure_embedding_model(
    cache_dir: Path, spec: PreprocessSpec | None = None, model: str = DEFAULT_EMBEDDING_MODEL
) -> tuple[Path, ModelCard]:
    """The cached ONNX embedding model and its card, built on first use in a child process.

    A file lock makes concurrent processes (gunicorn workers, an ingest) wait for one build
    instead of racing; the child is ``python -m edge_models.onnx_export``, so torch is only
    ever loaded there.
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    spec = spec or embedding_variant(model).spec
    onnx_path, card_path = embedding_model_paths(cache_dir, spec, model)
    with FileLock(str(onnx_path) + ".lock"):
        if not (onnx_path.exists() and card_path.exists()):
            log.info("building the %s ONNX model once (cached at %s)", model, onnx_path)
            cmd = [
                sys.executable,
                "-m",
                "edge_models.onnx_export",
                str(cache_dir),
                "--spec",
                json.dumps(spec.to_dict()),
                "--model",
                model,
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0 or not (onnx_path.exists() and card_path.exists()):
                raise EmbeddingExportError(
                    f"exporting {model} to ONNX failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}"
                )
    return onnx_path, ModelCard.load(card_path)
