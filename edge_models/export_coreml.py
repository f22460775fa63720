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
* the model's own fields (Xcode's model page): description, author, licence, version;
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
    author: str = "artsnap",
    license: str = "",
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
            model = cto.linear_quantize_weights(model, config=config)
            # The pass rebuilds the program from the spec and forgets that "image" is an
            # image; tell it again, *without* scale and bias: those ops are already in the graph.
            model._mil_program.functions["main"].input_types = [_preprocessed_image(image, size)]
        if not multi_label:
            # Add the classifier last: coremltools cannot re-serialise a classifier's label
            # list after a graph pass (weight quantisation), nor add one in a single call to a
            # torch model with two outputs. Its MIL program, outputs reset, can take one.
            prog = model._mil_program
            prog.functions["main"].set_output_types(None)
            # A second conversion inserts an ImageType's scale and bias ops again (the
            # input would be normalised twice); the graph already has them.
            prog.functions["main"].input_types = [_preprocessed_image(image, size)]
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
    model.author = author
    model.license = license
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


def _preprocessed_image(image: Any, size: int) -> Any:
    """The same image input with identity scale and bias, for a program whose graph already
    normalises it: coremltools inserts an ImageType's scale/bias ops on every conversion."""
    import coremltools as ct

    return ct.ImageType(
        name=image.name,
        shape=(1, 3, size, size),
        scale=1.0,
        bias=[0.0, 0.0, 0.0],
        color_layout=image.color_layout,
        channel_first=True,
    )


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
    affine = image_affine(spec, desc.input[0].name) if desc.input else {}
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
        "short_description": desc.metadata.shortDescription,
        "license": desc.metadata.license,
        "image_preprocessing": preprocessing,
        "image_affine": affine,
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


_AFFINE_OPS = ("mul", "add", "sub", "real_div")
_PASS_THROUGH = ("cast", "identity")


def image_affine(spec: Any, input_name: str = "image") -> dict[str, Any]:
    """What the program does to the pixels before the network: walks the ops from the input
    while they are element-wise ``mul``/``add``/``sub``/``real_div`` by constants (or casts)
    and composes them into ``scale * pixel + offset`` per channel.

    This is the check that counts the ops (a program that normalises twice composes to a
    different transform), where reading one named constant would not. Returns ``scale`` and
    ``offset`` (3 values each, channel order of the input), the ops walked, and the first op
    that is not affine (normally the first convolution or its padding).
    """
    ops = _main_ops(spec)
    consts: dict[str, np.ndarray] = {}
    for op in ops:
        if op.type == "const" and op.outputs:
            value = _const_array(op.attributes["val"])
            if value is not None:
                consts[op.outputs[0].name] = value
    scale, offset = np.ones(3), np.zeros(3)
    current, walked = input_name, []
    stopped_at = ""
    while True:
        users = [op for op in ops if any(a.name == current for arg in op.inputs.values() for a in arg.arguments)]
        if len(users) != 1:
            stopped_at = f"{len(users)} consumers of {current}"
            break
        op = users[0]
        if op.type in _PASS_THROUGH:
            walked.append(op.type)
            current = op.outputs[0].name
            continue
        if op.type not in _AFFINE_OPS:
            stopped_at = op.type
            break
        x, y = (op.inputs[k].arguments[0] for k in ("x", "y"))
        const_arg, chain_is_x = (y, True) if x.name == current else (x, False)
        c = consts.get(const_arg.name) if const_arg.name else _const_array(const_arg.value)
        if c is None:
            stopped_at = f"{op.type} by a non-constant"
            break
        c = np.broadcast_to(np.asarray(c, np.float64).reshape(-1), (3,)) if c.size in (1, 3) else None
        if c is None:
            stopped_at = f"{op.type} by a constant that is not per channel"
            break
        if op.type == "mul":
            scale, offset = scale * c, offset * c
        elif op.type == "add":
            offset = offset + c
        elif op.type == "sub":
            scale, offset = (scale, offset - c) if chain_is_x else (-scale, c - offset)
        elif chain_is_x:  # real_div: v / c
            scale, offset = scale / c, offset / c
        else:
            stopped_at = "real_div of a constant by the image"
            break
        walked.append(op.type)
        current = op.outputs[0].name
    return {"scale": scale.tolist(), "offset": offset.tolist(), "ops": walked, "stopped_at": stopped_at}


def _const_array(value: Any) -> np.ndarray | None:
    """A small immediate constant as an array (file-stored weights are not read: never the
    preprocessing constants)."""
    if not value.HasField("immediateValue") or not value.immediateValue.HasField("tensor"):
        return None
    tensor = value.immediateValue.tensor
    if tensor.floats.values:
        return np.asarray(tensor.floats.values, np.float64)
    if tensor.doubles.values:
        return np.asarray(tensor.doubles.values, np.float64)
    if tensor.bytes.values and value.type.tensorType.dataType == _fp16_code():
        return np.frombuffer(tensor.bytes.values, np.float16).astype(np.float64)
    return None


def _fp16_code() -> int:
    import coremltools as ct

    return int(ct.proto.MIL_pb2.DataType.Value("FLOAT16"))


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
