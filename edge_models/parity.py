"""Proof that every exported file computes what the trained torch module computes.

Run on *real* images (the test-split sample that training stored in ``samples/parity.zip``),
not random tensors: random inputs give near-uniform probabilities and hide top-1 flips that
real, confident-or-not images expose. Criteria:

* ONNX and TFLite fp32: max |Δ probability| ≤ 1e-4 and identical top-1 on every image;
* TFLite fp16 and int8: top-1 agreement ≥ 98 % (their probabilities move by design), the
  full-integer int8_full files ≥ 95 % (every op int8, the input too); a shortfall is
  reported as below target, not as a failed export (see :attr:`ParityResult.ok`), and
  ``artsnap export-classifier --strict`` turns it into a failure;
* every file key of a precision is checked: the two-output file and the one-output
  MediaPipe files (``tflite_classifier_<p>``, ``tflite_embedder_<p>``), on the outputs each has;
* camera-sized photos shrunk along each platform's resize path
  (:mod:`edge_models.resize_paths`): agreement per path and file, reported (no pass/fail:
  a path that differs from the server is a client to fix, not a file to reject);
* Core ML: cannot run on Linux, so the *package* is checked — image input of the right size
  and colour order, the outputs, the class labels in order, and the metadata (card, version,
  labels, licence). Its preprocessing is checked by walking the program's ops from the image
  input and composing every element-wise scale and bias up to the first convolution
  (:func:`edge_models.export_coreml.image_affine`): that transform must be the card's
  ``(pixel - mean) / std`` per channel. Then the torch module is run on pixels transformed by
  *those* numbers and compared with the reference, with the fp32 criterion: what the phone
  computes from the same pixels, short of the Core ML runtime itself.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .model_dir import ClassifierConfig
from .resize_paths import PathParity

__all__ = ["CoreMLCheck", "FormatParity", "ParityResult", "check_coreml", "compare_formats"]

FP32_MAX_ABS_DIFF = 1e-4
QUANTIZED_MIN_TOP1 = 0.98
FULL_INTEGER_MIN_TOP1 = 0.95


@dataclass
class FormatParity:
    fmt: str
    n: int
    max_abs_diff_probabilities: float
    max_abs_diff_embedding: float
    top1_agreement: float
    passed: bool
    criterion: str


@dataclass
class CoreMLCheck:
    fmt: str
    passed: bool
    problems: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    # the torch module fed the pixels as the package's own preprocessing transforms them
    preprocessing_in_torch: FormatParity | None = None


@dataclass
class ParityResult:
    formats: dict[str, FormatParity] = field(default_factory=dict)
    coreml: dict[str, CoreMLCheck] = field(default_factory=dict)
    resize_paths: list[PathParity] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every file computes what torch computes: the fp32 formats match it, the Core ML
        packages are right. A quantised file below its agreement target is *reported*
        (:attr:`below_target`), not failed: its disagreements are near-ties, a sample of a few
        hundred images moves by ±0.6 % around the true rate, and the file is still usable
        (fp16 is the choice where the last percent matters)."""
        return all(f.passed for f in self.formats.values() if _criterion(f.fmt)[1]) and all(
            c.passed for c in self.coreml.values()
        )

    @property
    def below_target(self) -> list[FormatParity]:
        return [f for f in self.formats.values() if not f.passed and not _criterion(f.fmt)[1]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "below_target": [f.fmt for f in self.below_target],
            "formats": {k: asdict(v) for k, v in self.formats.items()},
            "coreml": {
                k: {
                    "passed": v.passed,
                    "problems": v.problems,
                    "image_affine": v.summary.get("image_affine", {}),
                    "preprocessing_in_torch": asdict(v.preprocessing_in_torch) if v.preprocessing_in_torch else None,
                }
                for k, v in self.coreml.items()
            },
            "resize_paths": [r.to_dict() for r in self.resize_paths],
        }


def _criterion(fmt: str) -> tuple[str, bool]:
    """(text, strict): strict formats must match fp32 numerically."""
    if fmt == "onnx" or fmt.endswith("_fp32"):
        return f"max|dp| <= {FP32_MAX_ABS_DIFF:g} and identical top-1", True
    return f"top-1 agreement >= {_min_top1(fmt):.0%}", False


def _min_top1(fmt: str) -> float:
    return FULL_INTEGER_MIN_TOP1 if fmt.endswith("_int8_full") else QUANTIZED_MIN_TOP1


def compare_formats(
    net: torch.nn.Module, files: dict[str, Path], images: list[Image.Image], config: ClassifierConfig
) -> dict[str, FormatParity]:
    """Run torch and each ONNX/TFLite file on ``images``; compare probabilities and embeddings."""
    from .export_tflite import run_tflite

    spec = config.spec
    batch = spec.to_batch(images)
    with torch.no_grad():
        ref_p, ref_e = (t.numpy() for t in net.eval()(torch.from_numpy(batch)))
    out: dict[str, FormatParity] = {}
    for fmt, path in files.items():
        if fmt == "onnx":
            from .runtime import make_session

            sess = make_session(path, device="cpu")
            got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"image": batch})))
        elif fmt.startswith("tflite_"):
            got = run_tflite(path, np.ascontiguousarray(batch.transpose(0, 2, 3, 1)))
        else:
            continue
        text, strict = _criterion(fmt)
        de = float(np.abs(got["embedding"] - ref_e).max()) if "embedding" in got else 0.0
        if "probabilities" in got:
            dp = float(np.abs(got["probabilities"] - ref_p).max())
            agree = float((got["probabilities"].argmax(1) == ref_p.argmax(1)).mean())
        else:  # an embedder file: judged by what its embedding would classify as
            dp = 0.0
            agree = float((_head_probabilities(net, got["embedding"]).argmax(1) == ref_p.argmax(1)).mean())
            text += " (of the head on its embedding)"
        passed = (
            (dp <= FP32_MAX_ABS_DIFF and de <= FP32_MAX_ABS_DIFF and agree == 1.0)
            if strict
            else agree >= _min_top1(fmt)
        )
        out[fmt] = FormatParity(fmt, len(images), dp, de, agree, passed, text)
    return out


def _head_probabilities(net: torch.nn.Module, embedding: np.ndarray) -> np.ndarray:
    """The torch head on an embedding from a file: how an embedder file's rounding would move
    the label (the embedder's own agreement figure)."""
    with torch.no_grad():
        logits = net.head(torch.from_numpy(np.ascontiguousarray(embedding, np.float32))) * net.inv_temperature
        probs = torch.sigmoid(logits) if net.multi_label else torch.softmax(logits, dim=1)
    return probs.numpy()


def check_coreml(
    path: Path,
    config: ClassifierConfig,
    *,
    fmt: str = "coreml",
    net: torch.nn.Module | None = None,
    images: list[Image.Image] | None = None,
) -> CoreMLCheck:
    """Inspect an .mlpackage against what the app contract says it must contain; with ``net``
    and ``images``, also run torch on the package's own preprocessing (see module docstring)."""
    from .export_coreml import inspect_coreml

    info = inspect_coreml(path)
    problems: list[str] = []
    spec = config.spec
    affine = info.get("image_affine") or {}
    want_scale = 1.0 / np.asarray(spec.std, np.float64)
    want_offset = -np.asarray(spec.mean, np.float64) / np.asarray(spec.std, np.float64)
    if (
        not affine
        or not np.allclose(affine["scale"], want_scale, rtol=1e-3, atol=0)
        or not np.allclose(affine["offset"], want_offset, atol=2e-3)
    ):
        problems.append(
            f"the program maps pixels to {affine.get('scale')} * x + {affine.get('offset')} through "
            f"{affine.get('ops')}; the card says (x - {list(spec.mean)}) / {list(spec.std)}"
        )
    simulated = None
    if net is not None and images:
        simulated = _coreml_preprocessing_in_torch(net, images, config, affine, fmt)
        if not simulated.passed:
            problems.append(
                f"torch on the package's preprocessing agrees {simulated.top1_agreement:.1%} (max |dp| "
                f"{simulated.max_abs_diff_probabilities:.2g}) with the reference"
            )
    inputs = info["inputs"]
    if len(inputs) != 1 or inputs[0]["name"] != "image" or inputs[0]["type"] != "imageType":
        problems.append(f"expected one image input named 'image', got {inputs}")
    else:
        img = inputs[0]
        if (img["width"], img["height"]) != (spec.input_size, spec.input_size):
            problems.append(f"image input is {img['width']}x{img['height']}, spec says {spec.input_size}")
        if img["color_space"] != spec.color_order:
            problems.append(f"image colour space {img['color_space']} != {spec.color_order}")
    names = [o["name"] for o in info["outputs"]]
    want = ["probabilities", "embedding"] if config.multi_label else ["label", "label_probs", "embedding"]
    if sorted(names) != sorted(want):
        problems.append(f"outputs {names}, expected {want}")
    emb = next((o for o in info["outputs"] if o["name"] == "embedding"), None)
    if emb is not None and emb.get("shape") and emb["shape"][-1] != config.embedding_dim:
        problems.append(f"embedding has shape {emb['shape']}, expected last dim {config.embedding_dim}")
    if not config.multi_label:
        if info["class_labels"] != list(config.labels):
            problems.append(f"class labels {info['class_labels']} != {config.labels}")
        if info["predicted_feature"] != "label" or info["predicted_probabilities"] != "label_probs":
            problems.append("not a Core ML classifier (predicted feature/probabilities not set)")
    meta = info["metadata"]
    try:
        card = json.loads(meta.get("artsnap.model_card", "{}"))
    except json.JSONDecodeError:
        card = {}
    if card.get("labels") != list(config.labels):
        problems.append("model card in metadata is missing or has other labels")
    if card.get("version") != config.version or meta.get("artsnap.version") != config.version:
        problems.append("version missing from metadata")
    if meta.get("artsnap.training_data_hash") != config.training_data_hash:
        problems.append("training-data hash missing from metadata")
    if json.loads(meta.get("artsnap.labels", "[]")) != list(config.labels):
        problems.append("labels missing from metadata")
    if not info.get("license") or not info.get("author") or not info.get("short_description"):
        problems.append("licence, author or description missing from the Core ML model's metadata")
    return CoreMLCheck(fmt=fmt, passed=not problems, problems=problems, summary=info, preprocessing_in_torch=simulated)


def _coreml_preprocessing_in_torch(
    net: torch.nn.Module, images: list[Image.Image], config: ClassifierConfig, affine: dict[str, Any], fmt: str
) -> FormatParity:
    """The reference (the spec's normalisation) against torch on ``scale * pixel + offset``
    with the package's composed numbers, on the same resized and cropped pixels."""
    spec = config.spec
    pixels = np.stack([np.asarray(spec.resize_and_crop(im), np.float32) for im in images])  # N,H,W,3 RGB
    if spec.color_order == "BGR":
        pixels = pixels[..., ::-1]
    scale = np.asarray(affine.get("scale") or [np.nan] * 3, np.float32)
    offset = np.asarray(affine.get("offset") or [np.nan] * 3, np.float32)
    x = np.ascontiguousarray((pixels * scale + offset).transpose(0, 3, 1, 2), dtype=np.float32)
    with torch.no_grad():
        ref_p, ref_e = (t.numpy() for t in net.eval()(torch.from_numpy(spec.to_batch(images))))
        got_p, got_e = (t.numpy() for t in net.eval()(torch.from_numpy(x)))
    dp = float(np.nan_to_num(np.abs(got_p - ref_p).max(), nan=np.inf))
    de = float(np.nan_to_num(np.abs(got_e - ref_e).max(), nan=np.inf))
    agree = float((got_p.argmax(1) == ref_p.argmax(1)).mean())
    text = f"torch on the package's preprocessing: max|dp| <= {FP32_MAX_ABS_DIFF:g} and identical top-1"
    return FormatParity(
        f"{fmt}_preprocessing", len(images), dp, de, agree, dp <= FP32_MAX_ABS_DIFF and agree == 1, text
    )
