"""A trained retrieval-code head as serving sees it: its config and its ONNX graph, no torch.

``artsnap train-codes SOURCE --bits 64 --out DIR`` writes::

    DIR/code_head.json   name, version, bits, method, input space, labels, metrics, training
    DIR/code_head.onnx   embedding (N, 1280) → code_logits (N, bits); the code is their sign
    DIR/code_head.pt     the torch head (for re-export or further training)
    DIR/model_card.json  what the registry reads (``artsnap models register DIR``)
    DIR/report.md|json   what training measured

The head runs on the server's frozen ``cnn`` embedding, so its input space is the catalogue's
(the card says so, and the registry refuses a head trained on other embeddings). A binary
code is ``code_logits ≥ 0`` per bit.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .runtime import make_session

__all__ = ["CODE_CONFIG_NAME", "CODE_ONNX_NAME", "CODE_TASK", "CodeConfig", "CodeModel", "load_code_config"]

CODE_CONFIG_NAME = "code_head.json"
CODE_ONNX_NAME = "code_head.onnx"
CODE_STATE_NAME = "code_head.pt"
#: The registry task of a retrieval-code model (``artsnap models register``).
CODE_TASK = "retrieval-code"


@dataclass
class CodeConfig:
    name: str
    version: str
    method: str  # "csq" (binary codes) | "float" (learned float embedding, for comparison)
    bits: int
    input_dim: int
    embedding_space: str
    preprocessing: dict[str, Any]
    labels: list[str]
    training_data_hash: str
    hidden: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def binary(self) -> bool:
        return self.method == "csq"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CodeConfig:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def load_code_config(model_dir: str | Path) -> CodeConfig:
    path = Path(model_dir) / CODE_CONFIG_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{model_dir} holds no trained code head ({CODE_CONFIG_NAME} is missing)")
    return CodeConfig.from_dict(json.loads(path.read_text()))


class CodeModel:
    """The head in an ONNX Runtime session: embeddings in, codes (or float embeddings) out."""

    def __init__(self, model_dir: Path, config: CodeConfig, session: Any) -> None:
        self.model_dir = Path(model_dir)
        self.config = config
        self.session = session

    @classmethod
    def load(cls, model_dir: str | Path, *, threads: int = 1, device: str = "auto") -> CodeModel:
        model_dir = Path(model_dir)
        config = load_code_config(model_dir)
        path = model_dir / CODE_ONNX_NAME
        if not path.is_file():
            raise FileNotFoundError(f"{model_dir} has no {CODE_ONNX_NAME}; train it again with `artsnap train-codes`")
        # One thread: a matrix or two per batch, not worth waking the pool for.
        return cls(model_dir, config, make_session(path, threads=threads, device=device))

    @property
    def version(self) -> str:
        return self.config.version

    def logits(self, embeddings: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(embeddings, dtype=np.float32).reshape(-1, self.config.input_dim)
        if len(x) == 0:
            return np.zeros((0, self.config.bits), np.float32)
        out: np.ndarray = self.session.run(["code_logits"], {"embedding": x})[0]
        return out

    def encode(self, embeddings: np.ndarray) -> np.ndarray:
        """Binary heads: (N, bits) booleans (bit set where the logit is ≥ 0). Float heads: unit vectors."""
        z = self.logits(embeddings)
        if self.config.binary:
            return np.asarray(z >= 0)
        unit: np.ndarray = (z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)).astype(np.float32)
        return unit
