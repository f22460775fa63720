"""The one torch module every classifier file is exported from: backbone + head, two outputs.

Exporting a single wrapped module to ONNX, TFLite and Core ML is what keeps phone and server
in step: the same weights, the same graph, the same two outputs —

* ``probabilities``: calibrated class probabilities (softmax of logits / T; a sigmoid per
  label for multi-label collections);
* ``embedding``: the L2-normalised backbone feature, so a phone can also search the
  collection by vector without uploading the photo.

The temperature is baked into the graph, so every runtime returns the same calibrated numbers;
the abstain threshold is *not* (it is a decision, kept in the model card, so apps can show
"none of these" with their own wording).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ClassifierNet", "NamedOutputs", "l2_normalise"]


class ClassifierNet(nn.Module):
    """Input: float32 (N, 3, S, S) normalised by the preprocessing spec."""

    output_names = ("probabilities", "embedding")

    def __init__(self, backbone: nn.Module, head: nn.Module, *, temperature: float, multi_label: bool) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.register_buffer("inv_temperature", torch.tensor(1.0 / float(temperature), dtype=torch.float32))
        self.multi_label = bool(multi_label)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.backbone(x)
        embedding = l2_normalise(pooled)
        logits = self.head(embedding) * self.inv_temperature
        probs = torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=1)
        return probs, embedding


def l2_normalise(x: torch.Tensor) -> torch.Tensor:
    """``nn.functional.normalize(x, dim=1)`` (same eps) in ops that all have int8 kernels:
    its ``abs`` has none, which would leave a float island in the full-integer .tflite."""
    return x * torch.rsqrt(torch.clamp((x * x).sum(dim=1, keepdim=True), min=1e-24))


class NamedOutputs(nn.Module):
    """Same module for LiteRT: NHWC input named ``image``, outputs as a dict.

    LiteRT names the signature's outputs after the dict keys and its input after the keyword.
    NHWC is what Android hands over (a Bitmap's pixels, what MediaPipe and the TFLite Support
    library feed) and what XNNPACK computes in; the transpose to the backbone's NCHW is folded
    into the graph by the converter.
    """

    def __init__(self, net: ClassifierNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        probs, embedding = self.net(image.permute(0, 3, 1, 2))
        return {"probabilities": probs, "embedding": embedding}
