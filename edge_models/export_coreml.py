"""ClassifierNet → Core ML ``.mlpackage`` (ML Program) with ``coremltools``, via ``torch.export``.

Why torch.export: the ``torch.jit.trace`` path fails on EfficientNet-Lite's TF-style "same"
padding arithmetic; ``torch.export`` captures it as static pads.

What an iOS app gets:

* input ``image``: a 224x224 RGB *image* (CVPixelBuffer), not a tensor. The normalisation of
  the preprocessing spec is baked in as Core ML's image scale/bias (y = x/std − mean/std), so
  the app does no arithmetic; it only has to do the spec's resize-shorter-side + centre crop,
  which is exactly Vision's ``VNImageCropAndScaleOption.centerCrop``.
* a *classifier* output (single-label models): ``label`` (top class) and ``label_probs``
  (label → probability), the form Vision's ``VNClassificationObservation`` expects;
  multi-label models keep a ``probabilities`` array (one sigmoid per label; labels in the
  metadata), since a Core ML classifier is single-label by definition;
* ``embedding``: the L2-normalised vector, float32, for search by vector.
* user-defined metadata: the model card JSON, labels, version, training-data hash, metrics.

Core ML models cannot be *run* on Linux (the runtime is Apple-only); they are built here and
checked by inspecting the spec (see :mod:`edge_models.parity`).

The classifier op is added in a second coremltools pass over the converted MIL program:
coremltools 9 cannot add a classifier to a torch model with more than one output in a single
call (its output-type list goes out of step), nor quantise weights after one is added.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .classifier_net import ClassifierNet
from .preprocessing import PreprocessSpec

__all__ = ["convert_coreml", "inspect_coreml", "zip_mlpackage"]


def convert_coreml(
    net: ClassifierNet,
    path: Path,
    *,
    spec: PreprocessSpec,
    labels: list[str],
    multi_label: bool,
    metadata: dict[str, str],
    precision: str = "fp16",
    description: str = "",
    version: str = "",
) -> Path:
    """Write ``path`` (an .mlpackage folder). ``precision``: fp32, fp16 (default: what the
    Neural Engine runs) or int8 (fp16 compute, weights linearly quantised to 8 bits)."""
    import coremltools as ct

    if len(set(spec.std)) != 1:
        raise ValueError(
            "Core ML image inputs take one scale for all channels, but this preprocessing spec has per-channel "
            f"std {spec.std}; export Core ML only for specs with a single std"
        )
    if precision not in ("fp32", "fp16", "int8"):
        raise ValueError(f"unknown Core ML precision {precision!r}")
    scale = 1.0 / spec.std[0]
    bias = [-m / spec.std[0] for m in spec.mean]
    size = spec.input_size
    compute = ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16
    example = torch.zeros(1, 3, size, size)
    with _quiet():
        exported = torch.export.export(net.eval(), (example,)).run_decompositions({})
        image = ct.ImageType(
            name="image",
            shape=(1, 3, size, size),
            scale=scale,
            bias=bias,
            color_layout=ct.colorlayout.RGB if spec.color_order == "RGB" else ct.colorlayout.BGR,
        )
        outputs = [
            ct.TensorType(name="probabilities", dtype=np.float32),
            ct.TensorType(name="embedding", dtype=np.float32),
        ]
        target = ct.target.iOS16
        model = ct.convert(
            exported,
            inputs=[image],
            outputs=outputs,
            convert_to="mlprogram",
            minimum_deployment_target=target,
            compute_precision=compute,
        )
        if precision == "int8":
            from coremltools.optimize import coreml as cto

            config = cto.OptimizationConfig(global_config=cto.OpLinearQuantizerConfig(mode="linear_symmetric"))
            input_types = model._mil_program.functions["main"].input_types
            model = cto.linear_quantize_weights(model, config=config)
            # The pass rebuilds the program from the spec and forgets that "image" is an
            # image (its scale/bias ops are already in the graph); tell it again.
            model._mil_program.functions["main"].input_types = input_types
        if not multi_label:
            # Add the classifier last: coremltools cannot re-serialise a classifier's label
            # list after a graph pass (weight quantisation), nor add one in a single call to a
            # torch model with two outputs. Its MIL program, outputs reset, can take one.
            prog = model._mil_program
            prog.functions["main"].set_output_types(None)
            model = ct.convert(
                prog,
                classifier_config=ct.ClassifierConfig(
                    list(labels), predicted_feature_name="label", predicted_probabilities_output="probabilities"
                ),
                convert_to="mlprogram",
                minimum_deployment_target=target,
                compute_precision=ct.precision.FLOAT32,  # already decided above; do not re-cast
            )

    model.short_description = description or "artsnap category classifier"
    model.author = "artsnap"
    model.version = version
    model.input_description["image"] = (
        f"{size}x{size} RGB image: resize the shorter side to {spec.resize_shorter}, centre crop (Vision: centerCrop)"
    )
    model.output_description["embedding"] = "L2-normalised embedding, for search by vector"
    if multi_label:
        model.output_description["probabilities"] = "one sigmoid probability per label (labels in metadata)"
    else:
        model.output_description["label"] = "most probable category"
        model.output_description["label_probs"] = "calibrated probability of each category"
    meta = model.user_defined_metadata
    meta["com.github.apple.coremltools.source"] = "torch.export"
    for key, value in metadata.items():
        meta[key] = value

    path = Path(path)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        staged = tmp / path.name
        with _quiet():
            model.save(str(staged))
        if path.exists():
            shutil.rmtree(path)
        staged.rename(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def inspect_coreml(path: Path) -> dict[str, Any]:
    """What an app will see: inputs, outputs, classifier labels, metadata (works on Linux)."""
    import coremltools as ct

    with _quiet():
        spec = ct.utils.load_spec(str(path))
    desc = spec.description

    def feature(f) -> dict[str, Any]:
        kind = f.type.WhichOneof("Type")
        out: dict[str, Any] = {"name": f.name, "type": kind}
        if kind == "imageType":
            out.update(
                width=f.type.imageType.width,
                height=f.type.imageType.height,
                color_space=ct.proto.FeatureTypes_pb2.ImageFeatureType.ColorSpace.Name(f.type.imageType.colorSpace),
            )
        elif kind == "multiArrayType":
            out.update(
                shape=list(f.type.multiArrayType.shape),
                dtype=ct.proto.FeatureTypes_pb2.ArrayFeatureType.ArrayDataType.Name(f.type.multiArrayType.dataType),
            )
        return out

    labels: list[str] = []
    # ML Program classifiers keep their labels in the classify op's const, also mirrored in
    # the spec's classLabels field of the model type.
    if spec.WhichOneof("Type") == "mlProgram" and desc.predictedFeatureName:
        labels = _mlprogram_labels(spec)
    preprocessing = _image_preprocessing(spec)
    return {
        "spec_version": spec.specificationVersion,
        "type": spec.WhichOneof("Type"),
        "inputs": [feature(f) for f in desc.input],
        "outputs": [feature(f) for f in desc.output],
        "predicted_feature": desc.predictedFeatureName,
        "predicted_probabilities": desc.predictedProbabilitiesName,
        "class_labels": labels,
        "metadata": dict(desc.metadata.userDefined),
        "author": desc.metadata.author,
        "version": desc.metadata.versionString,
        "image_preprocessing": preprocessing,
    }


def zip_mlpackage(path: Path, zip_path: Path | None = None) -> Path:
    """An .mlpackage is a folder; apps download it zipped (Xcode/Core ML compile it on device)."""
    path = Path(path)
    zip_path = Path(zip_path) if zip_path else path.with_name(path.name + ".zip")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(path.rglob("*")):
            if f.is_file():
                zf.write(f, f"{path.name}/{f.relative_to(path).as_posix()}")
    from .model_card import write_atomic

    write_atomic(zip_path, buf.getvalue())
    return zip_path


def _main_ops(spec) -> list:
    main = spec.mlProgram.functions["main"]
    return [op for block in main.block_specializations.values() for op in block.operations]


def _mlprogram_labels(spec) -> list[str]:
    """Class labels of an ML Program classifier: the ``classes`` list of its ``classify`` op."""
    ops = _main_ops(spec)
    consts = {op.outputs[0].name: op.attributes["val"] for op in ops if op.type == "const" and op.outputs}
    for op in ops:
        if op.type != "classify":
            continue
        arg = op.inputs["classes"].arguments[0]
        value = arg.value if arg.HasField("value") else consts.get(arg.name)
        if value is None:
            return []
        return [str(v.immediateValue.tensor.strings.values[0]) for v in value.immediateValue.list.values]
    return []


def _image_preprocessing(spec) -> dict[str, Any]:
    """The scale and bias the converter put in front of the network for the image input."""
    out: dict[str, Any] = {}
    for op in _main_ops(spec):
        if op.type != "const" or not op.outputs:
            continue
        name = op.outputs[0].name
        tensor = op.attributes["val"].immediateValue.tensor
        values = list(tensor.floats.values) or [float(v) for v in np.frombuffer(tensor.bytes.values, np.float16)]
        if name.startswith("image__scaled__"):
            out["scale"] = values
        elif name.startswith("image__biased__"):
            out["bias"] = values
    return out


@contextlib.contextmanager
def _quiet():
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        warnings.simplefilter("ignore")
        yield
