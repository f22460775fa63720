"""``artsnap export-classifier DIR``: every model file from one trained module, plus the card.

From the weights in DIR (see :mod:`edge_models.model_dir`) it rebuilds one
:class:`~edge_models.classifier_net.ClassifierNet` and writes, next to the training output::

    classifier.onnx                          server (ONNX Runtime), NCHW float input, dynamic batch
    classifier_fp32|fp16|int8.tflite         Android (LiteRT Interpreter), NHWC float input, batch 1,
                                             both outputs (label and search vector in one pass)
    image_classifier_<p>.tflite              Android (MediaPipe ImageClassifier): probabilities only
    image_embedder_<p>.tflite                Android (MediaPipe ImageEmbedder): embedding only
                                             (<p>: fp32, fp16, int8, and int8_full: uint8 in and out)
    classifier_fp16|int8.mlpackage           iOS (Core ML), image input; each also zipped for download
    model_card.json                          the card: labels, preprocessing, version, hashes,
                                             metrics, parity, files, deliveries and sizes

Labels, preprocessing, version, licence and the card also travel *inside* the files: in each
.tflite the standard TFLite Support metadata (:mod:`edge_models.tflite_support_metadata`,
what MediaPipe reads) plus our card buffer (:mod:`edge_models.tflite_metadata`), the ONNX
``metadata_props``, and the Core ML model's own fields and user-defined metadata. The parity
check (:mod:`edge_models.parity`) runs at the end on the stored test images and on
camera-sized photos shrunk the way each platform shrinks them
(:mod:`edge_models.resize_paths`); its figures go into the card.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .classifier_backbone import get_backbone
from .deliveries import delivery
from .model_card import ModelCard
from .model_dir import ClassifierConfig, read_sample_images
from .parity import ParityResult, check_coreml, compare_formats
from .trained import TrainedClassifier, load_trained
from .weights import weights_sha256

log = logging.getLogger(__name__)

__all__ = ["CARD_NAME", "ExportResult", "build_card", "export_models"]

CARD_NAME = "model_card.json"
FORMATS = ("onnx", "tflite", "coreml")
PRECISIONS = ("fp32", "fp16", "int8", "int8_full")
DEFAULT_LICENSE = "Apache-2.0"
#: camera-sized photos (4032x3024) made from the parity images at export, per resize path
CAMERA_SAMPLES = 24


@dataclass
class ExportResult:
    model_dir: Path
    version: str
    files: dict[str, Path] = field(default_factory=dict)  # e.g. "tflite_int8" → path
    sizes: dict[str, int] = field(default_factory=dict)  # bytes (an .mlpackage: its zip)
    seconds: dict[str, float] = field(default_factory=dict)
    parity: ParityResult | None = None
    card_path: Path | None = None

    @property
    def ok(self) -> bool:
        return self.parity is None or self.parity.ok

    @property
    def below_target(self) -> list[str]:
        """Files whose agreement with torch is below their target (``--strict`` fails on these)."""
        return [] if self.parity is None else [p.fmt for p in self.parity.below_target]


def export_models(
    model_dir: str | Path,
    *,
    formats: Sequence[str] = FORMATS,
    quantize: Sequence[str] = PRECISIONS,
    check: bool = True,
    progress: bool = True,
    coreml_fp32: bool = False,
    license: str = DEFAULT_LICENSE,
    author: str = "artsnap",
    camera_samples: int = CAMERA_SAMPLES,
) -> ExportResult:
    """Export the trained classifier in ``model_dir`` to ``formats`` at ``quantize`` precisions.

    ONNX is always fp32 (the server's reference). TFLite: fp32 is always converted (the
    quantised variants derive from it) but only kept if asked; every precision comes as the
    two-output file and as a classifier and an embedder file for MediaPipe, int8_full only as
    the latter two. Core ML: fp16 (what the Neural Engine computes in, so an fp32 package buys
    nothing on an iPhone) whenever Core ML is asked for, int8 weights if ``int8`` is in
    ``quantize``, fp32 only with ``coreml_fp32=True``. ``license`` and ``author`` go into the
    card and every file's metadata (the licence is the deployer's call: the default is the
    project's and the EfficientNet-Lite weights' Apache-2.0; data with other terms needs its own).
    """
    model_dir = Path(model_dir)
    bad = set(formats) - set(FORMATS) | set(quantize) - set(PRECISIONS)
    if bad:
        raise ValueError(f"unknown export format/precision {sorted(bad)}; formats {FORMATS}, precisions {PRECISIONS}")
    trained = load_trained(model_dir)
    config = trained.config
    spec = config.spec
    result = ExportResult(model_dir=model_dir, version=config.version)
    card = build_card(config)
    card.license, card.author = license, author
    card_json = json.dumps(card.to_dict(), sort_keys=True)
    steps = _plan(formats, quantize, coreml_fp32=coreml_fp32)

    def single_heads(key: str, precision: str) -> None:
        """The MediaPipe files (one output each) from the two-output file ``key``."""
        from .export_tflite import single_output
        from .model_card import write_atomic

        data = result.files[key].read_bytes()
        for head, output in (("classifier", "probabilities"), ("embedder", "embedding")):
            path = model_dir / f"image_{head}_{precision}.tflite"
            write_atomic(path, single_output(data, output))
            _embed_tflite_card(path, card_json, card)
            result.files[f"tflite_{head}_{precision}"] = path

    from tqdm.auto import tqdm

    bar = tqdm(steps, desc="export", unit="file", disable=not progress, leave=False)
    for step in bar:
        bar.set_postfix_str(step)
        started = time.perf_counter()
        if step == "onnx":
            _export_onnx(trained, model_dir / "classifier.onnx", card_json)
            result.files["onnx"] = model_dir / "classifier.onnx"
        elif step == "tflite_fp32":
            _export_tflite_fp32(trained, model_dir / "classifier_fp32.tflite", card_json, card)
            result.files["tflite_fp32"] = model_dir / "classifier_fp32.tflite"
            single_heads("tflite_fp32", "fp32")
        elif step == "tflite_fp16":
            from .export_tflite import quantize_fp16

            path = model_dir / "classifier_fp16.tflite"
            quantize_fp16(model_dir / "classifier_fp32.tflite", path)
            _embed_tflite_card(path, card_json, card)
            result.files["tflite_fp16"] = path
            single_heads("tflite_fp16", "fp16")
        elif step == "tflite_int8_full":
            _export_int8_full(model_dir, spec, card_json, card, result.files)
        elif step == "tflite_int8":
            from .export_tflite import quantize_int8
            from .int8_grid import off_grid_weights

            off_grid = off_grid_weights(trained.net.backbone)
            if off_grid:  # e.g. a backbone registered without snapping: int8 will round its weights
                log.warning(
                    "%d backbone convolutions are off the int8 grid (%s, ...); int8 will agree less "
                    "with fp32 (see edge_models.int8_grid)",
                    len(off_grid),
                    ", ".join(off_grid[:3]),
                )
            calib = read_sample_images(model_dir / "samples" / "calibration.zip")
            batch = spec.to_batch(calib).transpose(0, 2, 3, 1)
            path = model_dir / "classifier_int8.tflite"
            quantize_int8(
                model_dir / "classifier_fp32.tflite",
                path,
                np.ascontiguousarray(batch),
                float_regex=get_backbone(config.backbone).int8_float_regex,
            )
            _embed_tflite_card(path, card_json, card)
            result.files["tflite_int8"] = path
            single_heads("tflite_int8", "int8")
        elif step.startswith("coreml_"):
            from .export_coreml import convert_coreml, zip_mlpackage

            precision = step.split("_", 1)[1]
            path = model_dir / f"classifier_{precision}.mlpackage"
            convert_coreml(
                trained.net,
                path,
                spec=spec,
                labels=config.labels,
                multi_label=config.multi_label,
                metadata=_coreml_metadata(config, card_json),
                precision=precision,
                description=_description(config),
                version=config.version,
                author=author,
                license=license,
            )
            zip_mlpackage(path)
            result.files[step] = path
        result.seconds[step] = round(time.perf_counter() - started, 2)
    bar.close()

    if "tflite" in formats and "fp32" not in quantize:
        for key in ("tflite_fp32", "tflite_classifier_fp32", "tflite_embedder_fp32"):
            path = result.files.pop(key, None)
            if path is not None:
                path.unlink(missing_ok=True)

    if check:
        from .resize_paths import camera_photos, resize_path_parity

        images = read_sample_images(model_dir / "samples" / "parity.zip")
        parity = ParityResult(formats=compare_formats(trained.net, result.files, images, config))
        for key, path in result.files.items():
            if key.startswith("coreml_"):
                parity.coreml[key] = check_coreml(path, config, fmt=key, net=trained.net, images=images)
        if camera_samples:
            photos = camera_photos(images, camera_samples)
            parity.resize_paths = resize_path_parity(trained.net, result.files, photos, config, parity.coreml)
        result.parity = parity
        if not parity.ok:
            log.warning("exported models do not all match torch: %s", parity.to_dict())
        for p in parity.below_target:
            log.warning(
                "BELOW TARGET: %s agrees with torch on the top label for %.1f%% of %d test images; "
                "its target is %s. Ship it knowing that, or pass --strict to fail the export.",
                p.fmt,
                100 * p.top1_agreement,
                p.n,
                p.criterion,
            )

    for key, path in result.files.items():
        sized = path.with_name(path.name + ".zip") if path.suffix == ".mlpackage" else path
        result.sizes[key] = sized.stat().st_size
    card.files = {k: (p.name + ".zip" if p.suffix == ".mlpackage" else p.name) for k, p in result.files.items()}
    card.deliveries = {k: delivery(k, multi_label=config.multi_label) for k in result.files}
    card.metrics["file_sizes_bytes"] = result.sizes
    if result.parity is not None:
        card.metrics["parity"] = result.parity.to_dict()
    result.card_path = card.save(model_dir / CARD_NAME)
    return result


def build_card(config: ClassifierConfig) -> ModelCard:
    """The model card every file carries (files/sizes/parity are added once known)."""
    spec = config.spec
    size = spec.input_size
    n, d = len(config.labels), config.embedding_dim
    probs_desc = "sigmoid per label" if config.multi_label else "softmax over labels"
    return ModelCard(
        name=config.name,
        version=config.version,
        task="multi-label-classification" if config.multi_label else "classification",
        backbone=config.backbone,
        preprocessing=spec,
        inputs=[
            {
                "name": "image",
                "format": "onnx",
                "dtype": "float32",
                "layout": "NCHW",
                "shape": [-1, 3, size, size],
                "normalised": True,
            },
            {
                "name": "image",
                "format": "tflite",
                "dtype": "float32",
                "layout": "NHWC",
                "shape": [1, size, size, 3],
                "normalised": True,
            },
            {
                "name": "image",
                "format": "tflite",
                "precision": "int8_full",
                "dtype": "uint8",
                "layout": "NHWC",
                "shape": [1, size, size, 3],
                "normalised": False,
                "note": "raw 0-255 pixels after resize + centre crop; the input's quantisation is the normalisation",
            },
            {
                "name": "image",
                "format": "coreml",
                "type": "image",
                "color": spec.color_order,
                "size": [size, size],
                "normalised": False,
                "note": "scale/bias baked in; resize shorter side + centre crop first",
            },
        ],
        outputs=[
            {
                "name": "probabilities",
                "dtype": "float32",
                "shape": [-1, n],
                "calibrated": True,
                "description": f"{probs_desc}, temperature {config.temperature:.4g} applied",
                "coreml": "outputs 'label' and 'label_probs' (classifier)"
                if not config.multi_label
                else "probabilities",
            },
            {
                "name": "embedding",
                "dtype": "float32",
                "shape": [-1, d],
                "l2_normalised": True,
                "embedding_space": config.embedding_space,
            },
        ],
        labels=list(config.labels),
        metrics=dict(config.metrics),
        training_data_hash=config.training_data_hash,
        weights_sha256=weights_sha256() if config.backbone.startswith("efficientnet") else None,
        extra={
            "multi_label": config.multi_label,
            "temperature": config.temperature,
            "abstain_threshold": config.abstain_threshold,
            "label_thresholds": config.label_thresholds,
            "decision": (
                "labels whose probability >= their label_threshold; none = 'none of these'"
                if config.multi_label
                else "top label if its probability >= abstain_threshold, else 'none of these'"
            ),
            "fine_tuned": config.fine_tuned,
            "embedding_space": config.embedding_space,
            "trained_at": config.created_at,
        },
    )


def _plan(formats: Sequence[str], quantize: Sequence[str], *, coreml_fp32: bool = False) -> list[str]:
    steps: list[str] = []
    if "onnx" in formats:
        steps.append("onnx")
    if "tflite" in formats:
        steps.append("tflite_fp32")
        steps += [f"tflite_{p}" for p in ("fp16", "int8", "int8_full") if p in quantize]
    if "coreml" in formats:
        steps.append("coreml_fp16")
        if "int8" in quantize:
            steps.append("coreml_int8")
        if coreml_fp32:
            steps.append("coreml_fp32")
    return steps


def _export_onnx(trained: TrainedClassifier, path: Path, card_json: str) -> None:
    import onnx

    from .classifier_net import ClassifierNet
    from .model_card import write_atomic
    from .onnx_export import export_onnx

    export_onnx(trained.net, path, input_size=trained.config.spec.input_size, output_names=ClassifierNet.output_names)
    model = onnx.load(str(path))
    for key, value in _coreml_metadata(trained.config, card_json).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.doc_string = f"{trained.config.name} {trained.config.version}"
    write_atomic(path, model.SerializeToString())


def _export_tflite_fp32(trained: TrainedClassifier, path: Path, card_json: str, card: ModelCard) -> None:
    from .export_tflite import convert_fp32

    convert_fp32(trained.net, path, input_size=trained.config.spec.input_size)
    _embed_tflite_card(path, card_json, card)


def _export_int8_full(model_dir: Path, spec: Any, card_json: str, card: ModelCard, files: dict[str, Path]) -> None:
    """Full-integer classifier and embedder files, each quantised from its own one-output
    fp32 model (calibrated on the stored calibration images)."""
    import tempfile

    from .export_tflite import quantize_int8_full, single_output

    if len(set(spec.mean)) != 1 or len(set(spec.std)) != 1:
        log.warning("int8_full skipped: a uint8 pixel input needs one mean and std for all channels")
        return
    calib = read_sample_images(model_dir / "samples" / "calibration.zip")
    batch = np.ascontiguousarray(spec.to_batch(calib).transpose(0, 2, 3, 1))
    fp32 = (model_dir / "classifier_fp32.tflite").read_bytes()
    for head, output in (("classifier", "probabilities"), ("embedder", "embedding")):
        path = model_dir / f"image_{head}_int8_full.tflite"
        with tempfile.TemporaryDirectory(dir=model_dir) as tmp:
            one = Path(tmp) / "one_output.tflite"
            one.write_bytes(single_output(fp32, output))
            quantize_int8_full(one, path, batch, mean=spec.mean[0], std=spec.std[0])
        _embed_tflite_card(path, card_json, card)
        files[f"tflite_{head}_int8_full"] = path


def _embed_tflite_card(path: Path, card_json: str, card: ModelCard) -> None:
    """Our card and labels buffers, the standard TFLite Support metadata, and labels.txt
    appended as its associated file (last: a later rewrite would drop it)."""
    from .model_card import write_atomic
    from .tflite_metadata import CARD_KEY, LABELS_KEY, embed_metadata, io_types, output_order
    from .tflite_support_metadata import METADATA_NAME, append_associated_files, build_metadata

    data = path.read_bytes()
    support = build_metadata(_support_info(card, output_order(data), io_types(data)[0]))
    labels = "\n".join(card.labels).encode()
    data = embed_metadata(
        data,
        {CARD_KEY: card_json.encode(), LABELS_KEY: labels, METADATA_NAME: support},
        description=f"{card.name} {card.version} ({card.license}): {len(card.labels)} categories",
    )
    write_atomic(path, append_associated_files(data, {LABELS_FILE: labels}))


LABELS_FILE = "labels.txt"


def _support_info(card: ModelCard, outputs: list[str], input_type: str) -> Any:
    """The TFLite Support description of one .tflite file of ``card``."""
    from .tflite_support_metadata import ImageInput, ModelInfo, TensorOutput

    spec = card.preprocessing
    size = spec.input_size
    lo = [(0.0 - m) / s for m, s in zip(spec.mean, spec.std)]
    hi = [(255.0 - m) / s for m, s in zip(spec.mean, spec.std)]
    if input_type == "FLOAT32":
        image = ImageInput(
            "image",
            f"{size}x{size} {spec.color_order} image, normalised (pixel - mean) / std. Resize the shorter side "
            f"to {spec.resize_shorter} and take the centre square first (MediaPipe: a centre-square region of "
            "interest).",
            size,
            size,
            spec.color_order,
            mean=list(spec.mean),
            std=list(spec.std),
            value_min=lo,
            value_max=hi,
        )
    else:
        image = ImageInput(
            "image",
            f"{size}x{size} {spec.color_order} image, raw 0-255 pixels (the input's quantisation normalises). "
            f"Resize the shorter side to {spec.resize_shorter} and take the centre square first.",
            size,
            size,
            spec.color_order,
            value_min=[0.0] * 3,
            value_max=[255.0] * 3,
        )
    probs = next(o for o in card.outputs if o["name"] == "probabilities")
    described = {
        "probabilities": TensorOutput(
            "probabilities",
            f"{probs['description']}; labels in {LABELS_FILE}",
            labels_file=LABELS_FILE,
            value_min=[0.0],
            value_max=[1.0],
        ),
        "embedding": TensorOutput(
            "embedding",
            f"L2-normalised embedding for search by vector (embedding space {card.extra.get('embedding_space')})",
        ),
    }
    return ModelInfo(
        name=card.name,
        description=f"{card.name} {card.version}: {len(card.labels)} categories. The model card is in the "
        "'artsnap.model_card' metadata buffer.",
        version=card.version,
        author=card.author,
        license=card.license,
        image=image,
        outputs=[described[name] for name in outputs],
    )


def _description(config: ClassifierConfig) -> str:
    kind = "multi-label" if config.multi_label else "single-label"
    return f"{config.name} {config.version}: {kind} classifier of {len(config.labels)} categories, with an embedding"


def _coreml_metadata(config: ClassifierConfig, card_json: str) -> dict[str, str]:
    """String key/values (Core ML user-defined metadata, ONNX metadata_props)."""
    meta: dict[str, Any] = {
        "artsnap.model_card": card_json,
        "artsnap.version": config.version,
        "artsnap.labels": json.dumps(config.labels),
        "artsnap.multi_label": json.dumps(config.multi_label),
        "artsnap.preprocessing": json.dumps(config.preprocessing),
        "artsnap.training_data_hash": config.training_data_hash,
        "artsnap.metrics": json.dumps(config.metrics.get("test", {})),
        "artsnap.abstain_threshold": json.dumps(config.abstain_threshold),
        "artsnap.embedding_space": config.embedding_space,
        "artsnap.label_thresholds": json.dumps(config.label_thresholds),
    }
    return {k: str(v) for k, v in meta.items()}
