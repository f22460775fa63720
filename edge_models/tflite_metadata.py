"""Named metadata buffers inside a .tflite file: the model card travels in the model itself.

A TFLite flatbuffer has a ``metadata`` table of (name, buffer index) pairs that runtimes
ignore and any reader can list (LiteRT's Java/Kotlin ``Interpreter`` does not, but the
flatbuffer is trivially parsed on Android, and our Python SDK uses :func:`read_metadata`).
We add two entries:

* ``artsnap.model_card`` — the model card as UTF-8 JSON (labels, preprocessing, version,
  training-data hash, metrics);
* ``artsnap.labels`` — the labels, one per line, for clients that want only those.

Beside them the standard ``TFLITE_METADATA`` entry (the TFLite Support schema that MediaPipe
Tasks reads: normalisation, image properties, labels) is written by
:mod:`edge_models.tflite_support_metadata`, through :func:`embed_metadata` too.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

__all__ = ["CARD_KEY", "LABELS_KEY", "embed_metadata", "io_types", "output_order", "read_metadata"]

CARD_KEY = "artsnap.model_card"
LABELS_KEY = "artsnap.labels"


def embed_metadata(model: bytes, entries: Mapping[str, bytes], *, description: str | None = None) -> bytes:
    """Return ``model`` with ``entries`` added as metadata buffers (replacing same names) and,
    if given, ``description`` as the model's own description (the converter writes
    "MLIR Converted.", which is what model viewers show)."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    obj = flatbuffer_utils.read_model_from_bytearray(bytearray(model))
    if description is not None:
        obj.description = description
    for old in obj.metadata or []:
        if _name(old.name) in entries:  # replaced: empty its buffer rather than leave it behind
            obj.buffers[old.buffer].data = None
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


def output_order(model: bytes) -> list[str]:
    """The signature names of the outputs, in the subgraph's output order (the order the
    TFLite Support metadata lists output tensors in)."""
    from ai_edge_litert import schema_py_generated as schema

    root = schema.Model.GetRootAs(model, 0)
    sg, sig = root.Subgraphs(0), root.SignatureDefs(0)
    by_index = {sig.Outputs(i).TensorIndex(): _name(sig.Outputs(i).Name()) for i in range(sig.OutputsLength())}
    return [by_index.get(sg.Outputs(i), f"output_{i}") for i in range(sg.OutputsLength())]


def io_types(model: bytes) -> tuple[str, list[str]]:
    """(input dtype, output dtypes) as TFLite type names, e.g. ("FLOAT32", ["UINT8"])."""
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    sg = schema.Model.GetRootAs(model, 0).Subgraphs(0)
    return names[sg.Tensors(sg.Inputs(0)).Type()], [
        names[sg.Tensors(sg.Outputs(i)).Type()] for i in range(sg.OutputsLength())
    ]


def _name(name: str | bytes | None) -> str:
    if isinstance(name, bytes):
        return name.decode()
    return name or ""
