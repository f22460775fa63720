"""Descriptors of whole data sets, cached on disk by file hash so re-runs take seconds.

Embedding CIFAR-10's 60 000 images takes several minutes on 2 cores; the quality figures only
change when the model does. The cache is keyed by the SHA-256 of each file's bytes and kept
per (descriptor, version) under ``<data_dir>/bench-cache``: a new export (new model version)
gets a new folder, identical files share a vector, and a run that is interrupted keeps every
shard written so far (append-only ``.npz`` shards, each written atomically).

Images go through exactly what ingest does: :func:`decode_image` with ingest's ``min_side``,
then the descriptor (ONNX Runtime with the model card's preprocessing for ``cnn``).
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from backend.engine.ingest import INGEST_MIN_SIDE
from dataset_tools.images import decode_image

from .datasets import ImageSet


class EmbeddingCache:
    """sha256(file bytes) → float32 vector, for one descriptor version."""

    def __init__(self, root: Path, descriptor: str, version: str, dim: int) -> None:
        self.dir = Path(root) / f"{descriptor}-{version}"
        self.dim = dim
        self._rows: dict[bytes, tuple[int, int]] = {}
        self._arrays: list[np.ndarray] = []
        self._pending_keys: list[bytes] = []
        self._pending_vecs: list[np.ndarray] = []
        self._unsaved: dict[bytes, np.ndarray] = {}
        if self.dir.is_dir():
            for shard in sorted(self.dir.glob("*.npz")):
                try:
                    with np.load(shard) as z:
                        keys, vecs = z["keys"], z["vecs"].astype(np.float32)
                except (OSError, ValueError, KeyError):
                    continue  # a damaged shard is recomputed, not trusted
                if vecs.ndim != 2 or vecs.shape[1] != dim:
                    continue
                a = len(self._arrays)
                self._arrays.append(vecs)
                for row, k in enumerate(keys):
                    self._rows[bytes(k)] = (a, row)

    def __len__(self) -> int:
        return len(self._rows) + len(self._unsaved)

    def get(self, key: bytes) -> np.ndarray | None:
        hit = self._rows.get(key)
        if hit is not None:
            return self._arrays[hit[0]][hit[1]]
        return self._unsaved.get(key)

    def put(self, keys: list[bytes], vecs: np.ndarray) -> None:
        vecs = np.asarray(vecs, np.float32)
        self._pending_keys += keys
        self._pending_vecs.append(vecs)
        self._unsaved.update(zip(keys, vecs))
        if len(self._pending_keys) >= 4096:
            self.flush()

    def flush(self) -> None:
        if not self._pending_keys:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        keys = np.array(self._pending_keys, dtype="S32")
        vecs = np.concatenate(self._pending_vecs).astype(np.float32)
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".shard.", suffix=".npz")
        os.close(fd)
        try:
            np.savez(tmp, keys=keys, vecs=vecs)
            os.replace(tmp, self.dir / f"{uuid.uuid4().hex}.npz")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        a = len(self._arrays)
        self._arrays.append(vecs)
        for row, k in enumerate(self._pending_keys):
            self._rows[k] = (a, row)
            self._unsaved.pop(k, None)
        self._pending_keys, self._pending_vecs = [], []


def file_key(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def describe_image_set(
    images: ImageSet,
    descriptor: Any,
    cache: EmbeddingCache | None,
    *,
    max_pixels: int = 64_000_000,
    batch: int = 64,
    desc: str | None = None,
) -> np.ndarray:
    """(len(images), dim) unit vectors, computing only what the cache lacks."""
    from tqdm import tqdm

    out = np.zeros((len(images), descriptor.dim), np.float32)
    todo_idx: list[int] = []
    todo_keys: list[bytes] = []
    todo_imgs: list[Any] = []

    def run_batch() -> None:
        if not todo_idx:
            return
        vecs = descriptor.describe(todo_imgs)
        out[todo_idx] = vecs
        if cache is not None:
            cache.put(list(todo_keys), vecs)
        todo_idx.clear(), todo_keys.clear(), todo_imgs.clear()

    bar = tqdm(
        total=len(images),
        desc=desc or f"{descriptor.name} {images.name}",
        unit="img",
        file=sys.stderr,
        dynamic_ncols=True,
        leave=False,
        mininterval=1.0,
    )
    for i in range(len(images)):
        data = images.read(i)
        key = file_key(data)
        hit = cache.get(key) if cache is not None else None
        if hit is not None:
            out[i] = hit
        else:
            todo_idx.append(i)
            todo_keys.append(key)
            todo_imgs.append(decode_image(data, max_pixels=max_pixels, min_side=INGEST_MIN_SIDE).image)
            if len(todo_idx) >= batch:
                run_batch()
        bar.update(1)
    run_batch()
    bar.close()
    if cache is not None:
        cache.flush()
    return out
