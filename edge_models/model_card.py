"""Model cards: the JSON that travels beside every model file.

A card says what the model is, how to feed it (the preprocessing spec, copied from
:mod:`edge_models.preprocessing` at export time, so clients read it instead of hard-coding),
what comes out, which labels, and how well it did. Apps and the server trust the card, not
assumptions.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .preprocessing import PreprocessSpec


@dataclass
class ModelCard:
    name: str
    version: str
    task: str  # "embedding" | "classification"
    backbone: str
    preprocessing: PreprocessSpec
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    labels: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    training_data_hash: str | None = None
    weights_sha256: str | None = None
    files: dict[str, str] = field(default_factory=dict)  # file key (e.g. "tflite_int8") → file name
    # file key → {"platform", "format", "precision", "min_runtime", "purpose", "outputs", ...}:
    # which file a phone should take, and what for (see edge_models.deliveries)
    deliveries: dict[str, dict[str, Any]] = field(default_factory=dict)
    author: str = "artsnap"
    license: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["preprocessing"] = self.preprocessing.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        data = dict(data)
        data["preprocessing"] = PreprocessSpec.from_dict(data.get("preprocessing", {}))
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        write_atomic(path, json.dumps(self.to_dict(), indent=2, sort_keys=True).encode())
        return path

    @classmethod
    def load(cls, path: str | Path) -> ModelCard:
        return cls.from_dict(json.loads(Path(path).read_text()))


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, rename: readers never see half a file.

    ``mkstemp`` creates the file 0600; it gets the mode a plain ``open()`` would give
    (0644 under the usual umask), so a server running as another user can read model files.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0o022)  # the only portable way to read it is to set it
    os.umask(mask)
    return mask


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, streamed: how model files are identified in cards, the registry and apps."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
