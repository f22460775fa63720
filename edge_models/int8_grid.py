"""Keep the backbone's convolution weights on the int8 grid, so int8 phone models lose nothing there.

Why: int8 export stores every convolution's weights per output channel as
``round(w / s) * s`` with ``s = max|w| / 127`` (symmetric, the TFLite and Core ML scheme). On
EfficientNet-Lite0 that rounding alone flipped the top-1 of a noticeable share of paintings for a
style classifier (BENCHMARKS.md, "Design measurements"). Storing the weights *already rounded*
makes that step exact: the server's ONNX model, the fp32/fp16 phone models and the int8 model
then compute with the very same weights, and only activation rounding is left to int8.

The cost is the rounding itself, paid once in float: at most half a grid step per weight
(1/254 of the channel's largest weight). BatchNorm folding multiplies each output channel by
one number, which keeps the channel on its grid, so the converters' folded weights stay exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["GridReport", "LEVELS", "off_grid_weights", "snap_to_int8_grid"]

LEVELS = 127  # symmetric int8 weights: [-127, 127], zero point 0


@dataclass(frozen=True)
class GridReport:
    convolutions: int
    changed: int  # convolutions whose weights moved
    max_relative_change: float  # largest |Δw| / max|w| of its channel


def _channel_scale(w: torch.Tensor) -> torch.Tensor:
    return w.detach().abs().amax(dim=tuple(range(1, w.ndim)), keepdim=True).clamp_min(1e-12) / LEVELS


@torch.no_grad()
def snap_to_int8_grid(module: nn.Module) -> GridReport:
    """Round every Conv2d weight in ``module`` to its per-output-channel int8 grid, in place.

    Idempotent: weights already on the grid come back bit for bit (up to float rounding).
    """
    n = changed = 0
    worst = 0.0
    for m in module.modules():
        if not isinstance(m, nn.Conv2d):
            continue
        n += 1
        w = m.weight
        s = _channel_scale(w)
        snapped = torch.round(w / s) * s
        delta = float(((snapped - w).abs() / (s * LEVELS)).max())
        if delta > 1e-6:
            changed += 1
        worst = max(worst, delta)
        w.copy_(snapped)
    return GridReport(convolutions=n, changed=changed, max_relative_change=worst)


@torch.no_grad()
def off_grid_weights(module: nn.Module, *, tol: float = 1e-3) -> list[str]:
    """Names of Conv2d layers whose weights are not on their int8 grid (to warn before int8 export)."""
    bad = []
    for name, m in module.named_modules():
        if isinstance(m, nn.Conv2d):
            s = _channel_scale(m.weight)
            q = m.weight / s
            if float((q - torch.round(q)).abs().max()) > tol:
                bad.append(name)
    return bad
