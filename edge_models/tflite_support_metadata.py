"""TFLite Support metadata (``TFLITE_METADATA``): what MediaPipe Tasks and the Task Library read.

MediaPipe's ``ImageClassifier`` and ``ImageEmbedder`` (and the TFLite Task Library before them)
configure themselves from a flatbuffer of the ``metadata_schema.fbs`` schema stored in the
model under the name ``TFLITE_METADATA``, plus a zip archive appended to the model that holds
the associated files (here ``labels.txt``). Without it they refuse a float model outright
("Input tensor has type float32: it requires specifying NormalizationOptions metadata").
What is written, per the schema:

* model: name, description, version, author, licence, ``min_parser_version`` 1.0.0 (only
  fields of schema 1.0.0 are used);
* input tensor: ``ImageProperties`` (RGB, the input size), ``NormalizationOptions`` (the card's
  mean/std, so the task computes ``(pixel - mean) / std`` exactly as the server does) for a
  float input, and ``Stats`` (the value range the network sees);
* output tensors, in the subgraph's output order: name, description, ``FeatureProperties``;
  the probabilities carry ``labels.txt`` as a ``TENSOR_AXIS_LABELS`` associated file.

Why written here with ``flatbuffers`` rather than a writer library: the ``tflite-support``
writers are unmaintained and pin an old protobuf, and MediaPipe's writers come with MediaPipe,
whose own OpenCV wheel clashes with the server's (both provide ``cv2``). The tables below are
the handful the schema defines for images; their field slots are the schema's field order (a
union takes two slots: its type, then its value). The test suite reads the result back with
MediaPipe itself (``tests/models/test_mediapipe.py``).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import flatbuffers

__all__ = ["METADATA_NAME", "ImageInput", "ModelInfo", "TensorOutput", "build_metadata", "append_associated_files"]

METADATA_NAME = "TFLITE_METADATA"
FILE_IDENTIFIER = b"M001"
MIN_PARSER_VERSION = "1.0.0"

# enum values of metadata_schema.fbs
_TENSOR_AXIS_LABELS = 2
_COLOR_SPACE = {"RGB": 1, "GRAYSCALE": 2}
_CONTENT_FEATURE, _CONTENT_IMAGE = 1, 2  # union ContentProperties
_OPTIONS_NORMALIZATION = 1  # union ProcessUnitOptions


@dataclass(frozen=True)
class ImageInput:
    """The image tensor. ``mean``/``std`` per channel for a float input; ``None`` for a uint8
    input that takes raw pixels (its quantisation parameters do the normalisation)."""

    name: str
    description: str
    width: int
    height: int
    color: str = "RGB"
    mean: Sequence[float] | None = None
    std: Sequence[float] | None = None
    value_min: Sequence[float] = ()
    value_max: Sequence[float] = ()


@dataclass(frozen=True)
class TensorOutput:
    name: str
    description: str
    labels_file: str | None = None  # an associated file with one label per line (TENSOR_AXIS_LABELS)
    value_min: Sequence[float] = ()
    value_max: Sequence[float] = ()


@dataclass(frozen=True)
class ModelInfo:
    name: str
    description: str
    version: str
    author: str
    license: str
    image: ImageInput
    outputs: Sequence[TensorOutput] = field(default_factory=tuple)


def build_metadata(info: ModelInfo) -> bytes:
    """The ``TFLITE_METADATA`` buffer for ``info`` (outputs in the model's output order)."""
    b = flatbuffers.Builder(1024)
    image = _image_tensor(b, info.image)
    outputs = [_output_tensor(b, out) for out in info.outputs]
    inputs_vec = _vector(b, [image])
    outputs_vec = _vector(b, outputs)
    sg_name = b.CreateString(info.name)
    b.StartObject(10)  # SubGraphMetadata
    b.PrependUOffsetTRelativeSlot(0, sg_name, 0)
    b.PrependUOffsetTRelativeSlot(2, inputs_vec, 0)
    b.PrependUOffsetTRelativeSlot(3, outputs_vec, 0)
    subgraph = b.EndObject()
    subgraphs = _vector(b, [subgraph])
    strings = [b.CreateString(s) for s in (info.name, info.description, info.version, info.author, info.license)]
    min_parser = b.CreateString(MIN_PARSER_VERSION)
    b.StartObject(8)  # ModelMetadata
    for slot, s in zip((0, 1, 2, 4, 5), strings):
        b.PrependUOffsetTRelativeSlot(slot, s, 0)
    b.PrependUOffsetTRelativeSlot(3, subgraphs, 0)
    b.PrependUOffsetTRelativeSlot(7, min_parser, 0)
    b.Finish(b.EndObject(), file_identifier=FILE_IDENTIFIER)
    return bytes(b.Output())


def append_associated_files(model: bytes, files: Mapping[str, bytes]) -> bytes:
    """The model with a zip archive of ``files`` appended, as the metadata populator does:
    the flatbuffer ignores trailing bytes, and MediaPipe finds the files by the zip's central
    directory. Must be the last step: rewriting the flatbuffer afterwards drops the archive."""
    buf = io.BytesIO(bytes(model))
    buf.seek(0, io.SEEK_END)
    with zipfile.ZipFile(buf, "a", zipfile.ZIP_STORED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _image_tensor(b: flatbuffers.Builder, image: ImageInput) -> int:
    b.StartObject(2)  # ImageSize
    b.PrependUint32Slot(0, image.width, 0)
    b.PrependUint32Slot(1, image.height, 0)
    size = b.EndObject()
    b.StartObject(2)  # ImageProperties
    b.PrependInt8Slot(0, _COLOR_SPACE[image.color], 0)
    b.PrependUOffsetTRelativeSlot(1, size, 0)
    props = b.EndObject()
    content = _content(b, _CONTENT_IMAGE, props)
    units: list[int] = []
    if image.mean is not None and image.std is not None:
        mean, std = _floats(b, image.mean), _floats(b, image.std)
        b.StartObject(2)  # NormalizationOptions
        b.PrependUOffsetTRelativeSlot(0, mean, 0)
        b.PrependUOffsetTRelativeSlot(1, std, 0)
        norm = b.EndObject()
        b.StartObject(2)  # ProcessUnit
        b.PrependUint8Slot(0, _OPTIONS_NORMALIZATION, 0)
        b.PrependUOffsetTRelativeSlot(1, norm, 0)
        units.append(b.EndObject())
    return _tensor(b, image.name, image.description, content, units, image.value_min, image.value_max, [])


def _output_tensor(b: flatbuffers.Builder, out: TensorOutput) -> int:
    b.StartObject(0)  # FeatureProperties
    content = _content(b, _CONTENT_FEATURE, b.EndObject())
    files = []
    if out.labels_file:
        name = b.CreateString(out.labels_file)
        desc = b.CreateString("Labels for the categories the model can recognise, one per line.")
        b.StartObject(5)  # AssociatedFile
        b.PrependUOffsetTRelativeSlot(0, name, 0)
        b.PrependUOffsetTRelativeSlot(1, desc, 0)
        b.PrependInt8Slot(2, _TENSOR_AXIS_LABELS, 0)
        files.append(b.EndObject())
    return _tensor(b, out.name, out.description, content, [], out.value_min, out.value_max, files)


def _tensor(
    b: flatbuffers.Builder,
    name: str,
    description: str,
    content: int,
    units: list[int],
    value_min: Sequence[float],
    value_max: Sequence[float],
    files: list[int],
) -> int:
    stats = None
    if value_min and value_max:
        vmax, vmin = _floats(b, value_max), _floats(b, value_min)
        b.StartObject(2)  # Stats
        b.PrependUOffsetTRelativeSlot(0, vmax, 0)
        b.PrependUOffsetTRelativeSlot(1, vmin, 0)
        stats = b.EndObject()
    units_vec = _vector(b, units) if units else None
    files_vec = _vector(b, files) if files else None
    name_s, desc_s = b.CreateString(name), b.CreateString(description)
    b.StartObject(7)  # TensorMetadata
    b.PrependUOffsetTRelativeSlot(0, name_s, 0)
    b.PrependUOffsetTRelativeSlot(1, desc_s, 0)
    b.PrependUOffsetTRelativeSlot(3, content, 0)
    if units_vec is not None:
        b.PrependUOffsetTRelativeSlot(4, units_vec, 0)
    if stats is not None:
        b.PrependUOffsetTRelativeSlot(5, stats, 0)
    if files_vec is not None:
        b.PrependUOffsetTRelativeSlot(6, files_vec, 0)
    return int(b.EndObject())


def _content(b: flatbuffers.Builder, kind: int, props: int) -> int:
    b.StartObject(3)  # Content: content_properties (type, value), range
    b.PrependUint8Slot(0, kind, 0)
    b.PrependUOffsetTRelativeSlot(1, props, 0)
    return int(b.EndObject())


def _vector(b: flatbuffers.Builder, offsets: Sequence[int]) -> int:
    b.StartVector(4, len(offsets), 4)
    for off in reversed(offsets):
        b.PrependUOffsetTRelative(off)
    return int(b.EndVector())


def _floats(b: flatbuffers.Builder, values: Sequence[float]) -> int:
    b.StartVector(4, len(values), 4)
    for v in reversed(list(values)):
        b.PrependFloat32(float(v))
    return int(b.EndVector())
