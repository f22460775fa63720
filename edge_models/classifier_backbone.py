"""Which backbone a classifier sits on, and how to get its features fast.

A trained classifier is (backbone, head). Training needs the backbone twice, in two forms:
a fast *frozen* feature extractor (ONNX Runtime, several times faster than torch eager on CPU) for
the cached features the head trains on, and the *torch module* for export and fine-tuning.
:class:`BackboneChoice` bundles both under a name that the model directory records, so
export can rebuild exactly what training used.

The registry has EfficientNet-Lite0 (the product's backbone) built in; tests register a tiny
network so the full train → export → parity path runs in seconds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from .backbone import BACKBONE_NAME, EMBEDDING_DIM, EmbeddingNet, load_efficientnet
from .preprocessing import DEFAULT_SPEC, PreprocessSpec

__all__ = [
    "BackboneChoice",
    "FeatureExtractor",
    "PooledEfficientNet",
    "TorchFeatureExtractor",
    "get_backbone",
    "register_backbone",
    "module_fingerprint",
]


class FeatureExtractor(Protocol):
    """Preprocessed batch (N, 3, S, S) → L2-normalised embeddings (N, D).

    ``key`` names the exact function computed (weights + preprocessing + exporter), so cached
    features are never reused across a change of any of them.
    """

    key: str

    def __call__(self, batch: np.ndarray) -> np.ndarray: ...


class PooledEfficientNet(nn.Module):
    """EfficientNet-Lite0 up to the global-average-pooled 1280-d feature (no ImageNet fc)."""

    def __init__(self, net: nn.Module | None = None) -> None:
        super().__init__()
        self.net = net if net is not None else load_efficientnet()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features(x).mean(dim=(2, 3))


def _efficientnet_tail(module: nn.Module, n_blocks: int) -> list[nn.Module]:
    net = module.net  # type: ignore[attr-defined]  # PooledEfficientNet keeps the network as .net
    blocks = list(net._blocks)[-n_blocks:] if n_blocks > 0 else []
    return [*blocks, net._conv_head, net._bn1]


def _efficientnet_extractor(cache_dir: Path) -> FeatureExtractor:
    from .embedding_model import ensure_embedding_model
    from .runtime import OnnxModel

    path, card = ensure_embedding_model(Path(cache_dir))
    model = OnnxModel.load(path, card)

    class _Onnx:
        key = f"onnx-{card.version}"

        def __call__(self, batch: np.ndarray) -> np.ndarray:
            return model.run(batch)["embedding"]

    return _Onnx()


@dataclass(frozen=True)
class BackboneChoice:
    """A backbone by name: how to build it, its feature size, its fine-tunable tail."""

    name: str
    dim: int
    build: Callable[[], nn.Module]  # module: (N, 3, S, S) → pooled features (N, dim), eval mode
    tail: Callable[[nn.Module, int], list[nn.Module]]  # last n blocks + head convs, for fine-tuning
    frozen_extractor: Callable[[Path], FeatureExtractor]
    spec: PreprocessSpec = field(default=DEFAULT_SPEC)
    # The server's catalogue embeddings come from this extractor key; a classifier whose
    # backbone is unchanged emits embeddings in the same space (phones can search by vector).
    embedding_space: str = ""
    # Layers (tensor-name regex in the converted .tflite) kept float in int8 export because
    # rounding their activations costs the most agreement with fp32 for the least speed;
    # see export_tflite.quantize_int8.
    int8_float_regex: str | None = None


_REGISTRY: dict[str, BackboneChoice] = {}


def register_backbone(choice: BackboneChoice) -> None:
    _REGISTRY[choice.name] = choice


def get_backbone(name: str) -> BackboneChoice:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown backbone {name!r}; known: {sorted(_REGISTRY)}") from None


register_backbone(
    BackboneChoice(
        name=BACKBONE_NAME,
        dim=EMBEDDING_DIM,
        build=lambda: PooledEfficientNet(EmbeddingNet().net),
        tail=_efficientnet_tail,
        frozen_extractor=_efficientnet_extractor,
        embedding_space=f"{BACKBONE_NAME}-imagenet",
        # An op's scope is its output tensor's name: converter locations joined by ";", the
        # op's own layer last (earlier ones can name other blocks). Anchor on the last one.
        int8_float_regex=r"(_conv_stem|MBConvBlock_[0-8])(/[^;]*)?;\d*;$",
    )
)


class TorchFeatureExtractor:
    """Features straight from a torch module: for fine-tuned backbones and tiny test nets."""

    def __init__(self, module: nn.Module, key: str, device: torch.device | None = None) -> None:
        self.module = module.eval()
        self.key = key
        self.device = device or torch.device("cpu")

    @torch.no_grad()
    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self.module.to(self.device)
        pooled = self.module(torch.from_numpy(np.ascontiguousarray(batch)).to(self.device))
        return nn.functional.normalize(pooled, dim=1).cpu().numpy()


def module_fingerprint(module: nn.Module) -> str:
    """Hash of a module's parameters and buffers: a cache key for its features."""
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]
