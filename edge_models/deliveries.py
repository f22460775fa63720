"""What each exported file is for: the card's ``deliveries`` map, one entry per file key.

A phone (or the server's ``/v1/models/latest?platform=``) picks its file from this map, so
every entry says the platform, format, precision, the oldest runtime it is built for, the
API that loads it, its outputs and, in one line, why one would choose it over its siblings.
File names and keys (see :mod:`edge_models.export`)::

    onnx                       classifier.onnx                   server, ONNX Runtime
    tflite_<p>                 classifier_<p>.tflite             Android, LiteRT Interpreter, both outputs
    tflite_classifier_<p>      image_classifier_<p>.tflite       Android, MediaPipe ImageClassifier
    tflite_embedder_<p>        image_embedder_<p>.tflite         Android, MediaPipe ImageEmbedder
    coreml_<p>                 classifier_<p>.mlpackage.zip      iOS, Core ML / Vision

``<p>``: fp32, fp16, int8 (mixed precision: int8 backbone, float front and tail, float
input and output) and, for the single-output files only, int8_full (every op int8, uint8
pixels in, uint8 out).
"""

from __future__ import annotations

from typing import Any

__all__ = ["PURPOSES", "delivery"]

ONNX_RUNTIME = "onnxruntime 1.20"
LITERT = "Android API 24 + LiteRT 1.x (org.tensorflow:tensorflow-lite 2.14+ or com.google.ai.edge.litert 1.0+)"
MEDIAPIPE = "Android API 24 + MediaPipe Tasks vision (com.google.mediapipe:tasks-vision; tested with mediapipe 1.2.3)"
IOS = "iOS 16 / macOS 13 (Core ML ML Program, spec 7)"

PURPOSES = {
    "fp32": "reference precision: identical to the server; largest and slowest",
    "fp16": "float16 weights, float32 compute: half the size, agrees with fp32 almost always; GPU delegate",
    "int8": "mixed precision (int8 backbone, float front and tail): smallest float-interface file with the "
    "best int8 agreement; CPU (XNNPACK) and GPU delegates",
    "int8_full": "full integer, uint8 pixels in and uint8 out: for NPU delegates (NNAPI, vendor NPUs) and "
    "Model Maker-style int8 pipelines; agrees less than the mixed int8 file",
}


def delivery(key: str, *, multi_label: bool = False) -> dict[str, Any]:
    """The ``deliveries`` entry for file ``key`` (see the module docstring for the keys)."""
    if key == "onnx":
        return {
            "platform": "server",
            "format": "onnx",
            "precision": "fp32",
            "min_runtime": ONNX_RUNTIME,
            "api": "ONNX Runtime",
            "input": "float32 NCHW, normalised by the card's preprocessing",
            "outputs": ["probabilities", "embedding"],
            "purpose": "the server's classifier (ingest and search labels); the reference every phone file is "
            "checked against",
        }
    fmt, _, rest = key.partition("_")
    if fmt == "coreml":
        return {
            "platform": "ios",
            "format": "coreml",
            "precision": rest,
            "min_runtime": IOS,
            "api": "Core ML (MLModel) or Vision (VNCoreMLRequest, imageCropAndScaleOption .centerCrop)",
            "input": "image (CVPixelBuffer), RGB; normalisation built in",
            "outputs": ["probabilities", "embedding"] if multi_label else ["label", "label_probs", "embedding"],
            "purpose": (
                "Neural Engine's own precision; the iOS default"
                if rest == "fp16"
                else "int8 weights, fp16 compute: smaller download, same speed"
                if rest == "int8"
                else "fp32 reference"
            ),
        }
    if fmt != "tflite":
        raise ValueError(f"unknown file key {key!r}")
    head, _, precision = rest.partition("_") if rest.startswith(("classifier_", "embedder_")) else ("", "", rest)
    if not head:
        return {
            "platform": "android",
            "format": "tflite",
            "precision": precision,
            "min_runtime": LITERT,
            "api": "LiteRT Interpreter.runSignature (signature 'serving_default')",
            "input": "float32 NHWC (1, S, S, 3), normalised by the card's preprocessing",
            "outputs": ["probabilities", "embedding"],
            "purpose": f"label and search vector from one pass; {PURPOSES[precision]}",
        }
    uint8 = precision == "int8_full"
    api = "MediaPipe ImageClassifier" if head == "classifier" else "MediaPipe ImageEmbedder"
    return {
        "platform": "android",
        "format": "tflite",
        "precision": precision,
        "min_runtime": MEDIAPIPE,
        "api": f"{api} (also LiteRT Interpreter)",
        "input": "uint8 NHWC pixels (1, S, S, 3)"
        if uint8
        else "float32 NHWC (1, S, S, 3); MediaPipe normalises from the file's metadata",
        "outputs": ["probabilities"] if head == "classifier" else ["embedding"],
        "purpose": (
            "labels only, with MediaPipe Tasks (labels and normalisation in the file's metadata); "
            if head == "classifier"
            else "search vector only, with MediaPipe Tasks; "
        )
        + PURPOSES[precision],
    }
