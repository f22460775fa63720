"""How each platform shrinks a 12 MP photo to the network's input, and what that does to answers.

The stored parity images are already 224 px, so they say nothing about the step where phones
differ most: going from 4032x3024 to 224x224. This module makes camera-sized photos
(:func:`camera_photos`: simulated snaps of the parity paintings, regenerated deterministically
at export, nothing stored) and shrinks each one along every path below; the parity check runs
the files on each path's pixels and compares with the server's answer on the same photo.

Paths (each returns the S x S RGB uint8 pixels the model will see):

``server``
    the card's spec, as the server and the Python client do it: shorter side to
    ``resize_shorter`` with Pillow's antialiased bilinear, centre crop. The reference.
``ios_vision_centercrop``
    Vision with ``VNImageCropAndScaleOption.centerCrop``: the centre square of the photo,
    scaled to S with an antialiased (area-weighted) bilinear filter, as Core Image does.
``android_bitmap_bilinear``
    ``Bitmap.createScaledBitmap(square, S, S, filter = true)`` on the centre square: bilinear
    sampling of the 2x2 nearest pixels, no antialiasing (what the old Kotlin client did).
``android_antialiased``
    what the clients should do: decode with ``inSampleSize`` / ``ImageDecoder.setTargetSize``
    then scale (area averaging; OpenCV's ``INTER_AREA`` here).
``mediapipe_roi_centre``
    MediaPipe Tasks with a centre-square region of interest: ImageToTensor's crop, then its
    bilinear warp to S (no antialiasing), as on its CPU path.
``mediapipe_roi_small_decode``
    what the README tells MediaPipe apps to do: decode the photo small first (shorter side
    2 S, an antialiased decoder scale such as ``ImageDecoder.setTargetSize``), then the
    centre-square region of interest; MediaPipe's 2:1 bilinear step then averages 2x2 pixels.
``mediapipe_full_frame``
    MediaPipe Tasks without a region of interest: the whole photo stretched to S x S (aspect
    ratio lost). Measured to show why apps must pass the region of interest.

Vision's and Android's scalers are emulated (Apple does not document Core Image's kernel;
Skia's filtered scaling samples like OpenCV's ``INTER_LINEAR``); MediaPipe's is checked
against MediaPipe itself in ``tests/models/test_mediapipe.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .model_dir import ClassifierConfig
from .preprocessing import PreprocessSpec

__all__ = [
    "CAMERA_SIZE",
    "RESIZE_PATHS",
    "PathParity",
    "camera_photos",
    "resize_path_parity",
    "shrink",
]

CAMERA_SIZE = (4032, 3024)  # a 12 MP phone photo, landscape


def _centre_square(img: Image.Image) -> Image.Image:
    w, h = img.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    return img.crop((left, top, left + s, top + s))


def _server(img: Image.Image, spec: PreprocessSpec) -> np.ndarray:
    return np.asarray(spec.resize_and_crop(img))


def _vision_centercrop(img: Image.Image, spec: PreprocessSpec) -> np.ndarray:
    size = spec.input_size
    return np.asarray(_centre_square(img).resize((size, size), Image.Resampling.BILINEAR))


def _bitmap_bilinear(img: Image.Image, spec: PreprocessSpec) -> np.ndarray:
    import cv2

    size = spec.input_size
    return cv2.resize(np.asarray(_centre_square(img)), (size, size), interpolation=cv2.INTER_LINEAR)


def _antialiased(img: Image.Image, spec: PreprocessSpec) -> np.ndarray:
    import cv2

    size = spec.input_size
    return cv2.resize(np.asarray(_centre_square(img)), (size, size), interpolation=cv2.INTER_AREA)


def _mediapipe_warp(pixels: np.ndarray, box: tuple[int, int, int, int], size: int) -> np.ndarray:
    """ImageToTensor on the CPU: an affine warp of the region (x0, y0, x1, y1) onto the
    S x S tensor, bilinear, no antialiasing, replicated borders."""
    import cv2

    x0, y0, x1, y1 = box
    src = np.float32([[x0, y0], [x1, y0], [x1, y1]])
    dst = np.float32([[0, 0], [size, 0], [size, size]])
    matrix = cv2.getAffineTransform(src, dst)
    return cv2.warpAffine(pixels, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _mediapipe_roi(img: Image.Image, spec: PreprocessSpec) -> np.ndarray:
    w, h = img.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    return _mediapipe_warp(np.asarray(img), (left, top, left + s, top + s), spec.input_size)


def _mediapipe_small_decode(img: Image.Image, spec: PreprocessSpec) -> np.ndarray:
    import cv2

    w, h = img.size
    scale = 2 * spec.input_size / min(w, h)
    if scale < 1:
        small = cv2.resize(np.asarray(img), (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        img = Image.fromarray(small)
    return _mediapipe_roi(img, spec)


def _mediapipe_full(img: Image.Image, spec: PreprocessSpec) -> np.ndarray:
    w, h = img.size
    return _mediapipe_warp(np.asarray(img), (0, 0, w, h), spec.input_size)


RESIZE_PATHS: dict[str, Callable[[Image.Image, PreprocessSpec], np.ndarray]] = {
    "server": _server,
    "ios_vision_centercrop": _vision_centercrop,
    "android_bitmap_bilinear": _bitmap_bilinear,
    "android_antialiased": _antialiased,
    "mediapipe_roi_centre": _mediapipe_roi,
    "mediapipe_roi_small_decode": _mediapipe_small_decode,
    "mediapipe_full_frame": _mediapipe_full,
}

# which files each path feeds (file-key prefixes); "torch" runs the reference module itself
_PATH_FILES = {
    "server": ("onnx",),
    "ios_vision_centercrop": ("coreml_",),
    "android_bitmap_bilinear": ("tflite_fp", "tflite_int8"),
    "android_antialiased": ("tflite_fp", "tflite_int8"),
    "mediapipe_roi_centre": ("tflite_classifier_", "tflite_embedder_"),
    "mediapipe_roi_small_decode": ("tflite_classifier_", "tflite_embedder_"),
    "mediapipe_full_frame": ("tflite_classifier_", "tflite_embedder_"),
}


def shrink(img: Image.Image, path: str, spec: PreprocessSpec) -> np.ndarray:
    """``img`` (RGB) → the S x S x 3 uint8 pixels along resize path ``path``."""
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.ascontiguousarray(RESIZE_PATHS[path](img, spec), dtype=np.uint8)


def camera_photos(paintings: Sequence[Image.Image], n: int, *, seed: int = 0) -> list[Image.Image]:
    """``n`` simulated 12 MP snaps (alternately landscape and portrait) of the first
    paintings; the same photos every time for the same paintings."""
    from dataset_tools.camera_snap import simulate_snap

    rng = np.random.default_rng(seed)
    out = []
    for i, painting in enumerate(list(paintings)[:n]):
        size = CAMERA_SIZE if i % 2 == 0 else CAMERA_SIZE[::-1]
        out.append(simulate_snap(painting, rng, out_size=size, difficulty="easy").photo)
    return out


@dataclass
class PathParity:
    """One file (or ``torch``) fed one resize path's pixels, against the server's answer."""

    path: str
    fmt: str
    n: int
    top1_agreement: float | None  # with the server reference (torch on the server path); None: no probabilities
    mean_cosine_embedding: float | None  # None: the file has no embedding output

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resize_path_parity(
    net: Any,
    files: dict[str, Path],
    photos: Sequence[Image.Image],
    config: ClassifierConfig,
    coreml: dict[str, Any] | None = None,
) -> list[PathParity]:
    """For each path: torch fp32 on that path's pixels (the resize alone), then each file of
    the platform on them. Core ML files cannot run here: they are simulated in torch with the
    package's own composed preprocessing (from ``coreml``, the Core ML checks)."""
    import torch

    from .export_tflite import run_tflite

    spec = config.spec
    mean, std = np.asarray(spec.mean, np.float32), np.asarray(spec.std, np.float32)

    def normalise(pixels: np.ndarray) -> np.ndarray:  # N,S,S,3 uint8 → N,3,S,S float
        return np.ascontiguousarray(((pixels.astype(np.float32) - mean) / std).transpose(0, 3, 1, 2))

    def run_torch(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            p, e = net.eval()(torch.from_numpy(x))
        return p.numpy(), e.numpy()

    shrunk = {path: np.stack([shrink(im, path, spec) for im in photos]) for path in RESIZE_PATHS}
    ref_p, ref_e = run_torch(normalise(shrunk["server"]))
    ref_top = ref_p.argmax(1)

    def row(path: str, fmt: str, probs: np.ndarray | None, emb: np.ndarray | None) -> PathParity:
        agree = None if probs is None else round(float((probs.argmax(1) == ref_top).mean()), 4)
        cos = None if emb is None else round(float(np.mean(np.sum(emb * ref_e, 1) / np.linalg.norm(emb, axis=1))), 5)
        return PathParity(path, fmt, len(photos), agree, cos)

    out: list[PathParity] = []
    for path, pixels in shrunk.items():
        x = normalise(pixels)
        out.append(row(path, "torch", *run_torch(x)))
        for key, file in files.items():
            if not key.startswith(_PATH_FILES[path]):
                continue
            if key == "onnx":
                from .runtime import make_session

                sess = make_session(file, device="cpu")
                got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"image": x})))
            elif key.startswith("coreml_"):
                affine = (coreml or {}).get(key)
                if affine is None:
                    continue
                summary = affine.summary.get("image_affine", {})
                scale = np.asarray(summary.get("scale") or [np.nan] * 3, np.float32)
                offset = np.asarray(summary.get("offset") or [np.nan] * 3, np.float32)
                xc = np.ascontiguousarray((pixels.astype(np.float32) * scale + offset).transpose(0, 3, 1, 2))
                got = dict(zip(("probabilities", "embedding"), run_torch(xc)))
            else:
                got = run_tflite(file, np.ascontiguousarray(x.transpose(0, 2, 3, 1)))
            out.append(row(path, key, got.get("probabilities"), got.get("embedding")))
    return out
