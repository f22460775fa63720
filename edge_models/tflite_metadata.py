"""Named metadata buffers inside a .tflite file: the model card travels in the model itself.

A TFLite flatbuffer has a ``metadata`` table of (name, buffer index) pairs that runtimes
ignore and any reader can list (LiteRT's Java/Kotlin ``Interpreter`` does not, but the
flatbuffer is trivially parsed on Android, and our Python SDK uses :func:`read_metadata`).
We add two entries:

* ``artsnap.model_card`` — the model card as UTF-8 JSON (labels, preprocessing, version,
  training-data hash, metrics);
* ``artsnap.labels`` — the labels, one per line, for clients that want only those.

(The older ``TFLITE_METADATA`` schema of the tflite-support project is not written: its
writer library is unmaintained and does not install with numpy 2; the card is a superset.)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

__all__ = ["CARD_KEY", "LABELS_KEY", "embed_metadata", "read_metadata"]

CARD_KEY = "artsnap.model_card"
LABELS_KEY = "artsnap.labels"


def embed_metadata(model: bytes, entries: Mapping[str, bytes]) -> bytes:
    """Return ``model`` with ``entries`` added as metadata buffers (replacing same names)."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    obj = flatbuffer_utils.read_model_from_bytearray(bytearray(model))
    obj.metadata = [m for m in (obj.metadata or []) if _name(m.name) not in entries]
    for name, data in entries.items():
        buf = schema.BufferT()
        buf.data = np.frombuffer(bytes(data), dtype=np.uint8)
        obj.buffers.append(buf)
        meta = schema.MetadataT()
        meta.name = name
        meta.buffer = len(obj.buffers) - 1
        obj.metadata.append(meta)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(obj))


def read_metadata(model: bytes | str | Path) -> dict[str, bytes]:
    """All named metadata buffers of a .tflite (file path or bytes), without unpacking weights."""
    from ai_edge_litert import schema_py_generated as schema

    data = Path(model).read_bytes() if isinstance(model, (str, Path)) else bytes(model)
    root = schema.Model.GetRootAs(data, 0)
    out: dict[str, bytes] = {}
    for i in range(root.MetadataLength()):
        meta = root.Metadata(i)
        buf = root.Buffers(meta.Buffer())
        if buf.Offset():  # large models keep buffers after the flatbuffer
            raw = data[buf.Offset() : buf.Offset() + buf.Size()]
        else:
            raw = buf.DataAsNumpy().tobytes() if buf.DataLength() else b""
        out[_name(meta.Name())] = raw
    return out


def _name(name: str | bytes | None) -> str:
    if isinstance(name, bytes):
        return name.decode()
    return name or ""
