"""Run MediaPipe Tasks on .tflite files, as an Android app would; run by the MediaPipe venv.

Not a test module: ``test_mediapipe.py`` runs it with ``.venv-mediapipe/bin/python`` (MediaPipe
brings its own OpenCV, which clashes with the server's, so it lives in its own venv) and
reads JSON back. It imports nothing from the project.

stdin: ``{"jobs": [{"model": PATH, "task": "classifier" | "embedder", "images": [PATH, ...],
"roi": "centre" | null}]}``; stdout: ``{"results": [[per image: [per head: {...}]], ...]}``.
A classifier head is ``{"head": NAME, "categories": [[label, score], ...]}`` (every category,
best first); an embedder head is ``{"head": NAME, "embedding": [...]}``. The task "metadata"
returns the file's TFLite Support metadata as MediaPipe's own generated schema code parses it.
"""

from __future__ import annotations

import json
import sys

import mediapipe as mp
import numpy as np
from mediapipe.tasks.python import BaseOptions, vision
from mediapipe.tasks.python.components.containers.rect import RectF
from PIL import Image


def centre_square(width: int, height: int) -> RectF:
    """The centre square of a width x height image, in MediaPipe's normalised coordinates."""
    s = min(width, height)
    left, top = (width - s) // 2 / width, (height - s) // 2 / height
    return RectF(left=left, top=top, right=left + s / width, bottom=top + s / height)


def read_support_metadata(path: str) -> dict:
    """The ``TFLITE_METADATA`` buffer, parsed by MediaPipe's generated schema classes."""
    from mediapipe.tasks.metadata import metadata_schema_py_generated as md
    from mediapipe.tasks.metadata import schema_py_generated as tfl

    data = open(path, "rb").read()
    model = tfl.Model.GetRootAs(data, 0)
    entries = [model.Metadata(i) for i in range(model.MetadataLength())]
    (entry,) = [m for m in entries if m.Name() == b"TFLITE_METADATA"]
    raw = model.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
    meta = md.ModelMetadataT.InitFromPackedBuf(raw, 0)

    def text(value: object) -> object:
        return value.decode() if isinstance(value, bytes) else value

    def tensor(t: object) -> dict:
        out = {"name": text(t.name), "description": text(t.description)}
        props = t.content.contentProperties if t.content else None
        out["content"] = type(props).__name__ if props is not None else None
        if hasattr(props, "colorSpace"):
            out["color_space"] = props.colorSpace
            out["size"] = [props.defaultSize.width, props.defaultSize.height] if props.defaultSize else None
        out["normalization"] = [
            {"mean": [float(v) for v in u.options.mean], "std": [float(v) for v in u.options.std]}
            for u in t.processUnits or []
            if u.optionsType == md.ProcessUnitOptions.NormalizationOptions
        ]
        out["associated_files"] = [{"name": text(f.name), "type": f.type} for f in t.associatedFiles or []]
        return out

    sg = meta.subgraphMetadata[0]
    return {
        "identifier_ok": md.ModelMetadata.ModelMetadataBufferHasIdentifier(raw, 0),
        "name": text(meta.name),
        "description": text(meta.description),
        "version": text(meta.version),
        "author": text(meta.author),
        "license": text(meta.license),
        "min_parser_version": text(meta.minParserVersion),
        "inputs": [tensor(t) for t in sg.inputTensorMetadata],
        "outputs": [tensor(t) for t in sg.outputTensorMetadata],
        "rgb": md.ColorSpaceType.RGB,
        "axis_labels": md.AssociatedFileType.TENSOR_AXIS_LABELS,
    }


def run(job: dict) -> list | dict:
    if job["task"] == "metadata":
        return read_support_metadata(job["model"])
    base = BaseOptions(model_asset_path=job["model"])
    if job["task"] == "classifier":
        task = vision.ImageClassifier.create_from_options(vision.ImageClassifierOptions(base_options=base))
    else:
        task = vision.ImageEmbedder.create_from_options(vision.ImageEmbedderOptions(base_options=base))
    out = []
    try:
        for path in job["images"]:
            pixels = np.asarray(Image.open(path).convert("RGB"))
            image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(pixels))
            options = None
            if job.get("roi") == "centre":
                roi = centre_square(pixels.shape[1], pixels.shape[0])
                options = vision.ImageProcessingOptions(region_of_interest=roi)
            if job["task"] == "classifier":
                result = task.classify(image, options)
                out.append(
                    [
                        {"head": c.head_name, "categories": [[x.category_name, float(x.score)] for x in c.categories]}
                        for c in result.classifications
                    ]
                )
            else:
                result = task.embed(image, options)
                out.append(
                    [{"head": e.head_name, "embedding": [float(v) for v in e.embedding]} for e in result.embeddings]
                )
    finally:
        task.close()
    return out


if __name__ == "__main__":
    jobs = json.load(sys.stdin)["jobs"]
    json.dump({"results": [run(job) for job in jobs]}, sys.stdout)
