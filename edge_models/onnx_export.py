"""Export torch models to ONNX and prove parity with torch (needs torch: never imported by a server).

The server runs ONNX Runtime (several times faster than torch eager, see BENCHMARKS.md), but
the weights live in torch. The embedding model is exported once per cache key, in a child
process started by :func:`edge_models.embedding_model.ensure_embedding_model`; the parity
check at export time guarantees the fast path computes the same thing as the reference.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .embedding_model import embedding_cache_key, embedding_model_paths
from .embedding_variants import DEFAULT_EMBEDDING_MODEL, embedding_variant, variant_weights_sha256
from .model_card import ModelCard
from .preprocessing import DEFAULT_SPEC, PreprocessSpec
from .runtime import make_session
from .weights import EMBEDDING_DIM, IMAGENET_CLASSES

if TYPE_CHECKING:  # torch is imported only when a model is actually exported or compared
    import torch

    from .style_statistics import ProjectionFit

log = logging.getLogger(__name__)

OPSET = 18


@dataclass(frozen=True)
class ParityReport:
    max_abs_diff: dict[str, float]
    top1_agree: float
    n_inputs: int

    @property
    def ok(self) -> bool:
        return all(v <= 1e-4 for v in self.max_abs_diff.values()) and self.top1_agree == 1.0


def export_onnx(
    model: torch.nn.Module,
    path: Path,
    *,
    input_size: int,
    output_names: tuple[str, ...],
    input_name: str = "image",
) -> Path:
    """Export an image model (``(N, 3, S, S)`` input) with a dynamic batch axis, atomically."""
    import torch

    example = torch.zeros(1, 3, input_size, input_size)
    return export_dynamo(model, example, path, input_name=input_name, output_names=output_names)


def export_dynamo(
    model: torch.nn.Module,
    example: torch.Tensor,
    path: Path,
    *,
    input_name: str,
    output_names: tuple[str, ...],
    max_batch: int = 4096,
) -> Path:
    """Export with the dynamo exporter and a dynamic batch axis, atomically (temp file + rename)."""
    import torch

    model = model.eval().cpu()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        # The dynamo exporter folds the package's TF-style "same" padding into each Conv's
        # pads; the legacy TorchScript exporter leaves 17 runtime-computed Pad chains that
        # stop ONNX Runtime from fusing them (much slower at batch 1).
        with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
            program = torch.onnx.export(
                model,
                (example,),
                input_names=[input_name],
                output_names=list(output_names),
                dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=max_batch)},),
                opset_version=OPSET,
                dynamo=True,
                verbose=False,
            )
            program.save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def check_parity(model: torch.nn.Module, onnx_path: Path, inputs: np.ndarray) -> ParityReport:
    """Run torch and ONNX Runtime on the same inputs; compare every output.

    Differences are absolute for outputs within [-1, 1] and relative to the output's largest
    magnitude otherwise (statistics of feature maps reach the hundreds, where float32
    rounding alone exceeds 1e-4).
    """
    import torch

    sess = make_session(onnx_path, device="cpu")
    with torch.no_grad():
        ref = model.eval().cpu()(torch.from_numpy(inputs))
    ref = ref if isinstance(ref, (tuple, list)) else (ref,)
    names = [o.name for o in sess.get_outputs()]
    got = sess.run(None, {sess.get_inputs()[0].name: inputs})
    diffs = {
        n: float(np.max(np.abs(r.numpy() - g)) / max(1.0, float(np.max(np.abs(r.numpy())))))
        for n, r, g in zip(names, ref, got)
    }
    top = names.index("logits") if "logits" in names else len(names) - 1  # the classes, when there are any
    last_ref, last_got = ref[top].numpy(), got[top]
    agree = float(np.mean(last_ref.argmax(1) == last_got.argmax(1)))
    return ParityReport(max_abs_diff=diffs, top1_agree=agree, n_inputs=len(inputs))


def build_embedding_net(spec: PreprocessSpec = DEFAULT_SPEC) -> tuple[torch.nn.Module, ProjectionFit]:
    """The default (Lite0) embedding graph with its style projection fitted on the project's
    generated paintings.

    The fit is deterministic (the painter's streams are named, the SVD is exact), so every
    export of the same cache key computes the same projection.
    """
    import torch

    from .backbone import EmbeddingNet
    from .style_statistics import fit_style_projection, generated_fit_images

    model = EmbeddingNet().eval()
    images = generated_fit_images(size=spec.input_size)
    with torch.inference_mode():
        batches = [torch.from_numpy(spec.to_batch(images[i : i + 32])) for i in range(0, len(images), 32)]
        fit = fit_style_projection(model.gram, batches)
    model.projection = fit.projection
    return model, fit


def export_embedding_model(
    cache_dir: Path, spec: PreprocessSpec | None = None, model_name: str = DEFAULT_EMBEDDING_MODEL
) -> tuple[Path, ModelCard]:
    """Export the backbone to the cache path :mod:`edge_models.embedding_model` names, with its card.

    Called in a child process by :func:`edge_models.embedding_model.ensure_embedding_model`
    (which holds the lock), so the serving process never imports torch.
    """
    from .backbone import ContentEmbeddingNet, load_efficientnet
    from .style_spec import LAYERS_DIM, STYLE_BLOCKS, STYLE_DIM

    spec = spec or embedding_variant(model_name).spec
    onnx_path, card_path = embedding_model_paths(cache_dir, spec, model_name)
    model: torch.nn.Module
    fit: ProjectionFit | None = None
    if model_name == DEFAULT_EMBEDDING_MODEL:
        model, fit = build_embedding_net(spec)
    else:
        model = ContentEmbeddingNet(load_efficientnet(variant=model_name))
    output_names = tuple(model.output_names)
    export_onnx(model, onnx_path, input_size=spec.input_size, output_names=output_names)
    rng = np.random.default_rng(0)
    probe = rng.standard_normal((4, 3, spec.input_size, spec.input_size)).astype(np.float32)
    parity = check_parity(model, onnx_path, probe)
    if not all(v <= 1e-3 for v in parity.max_abs_diff.values()):
        onnx_path.unlink(missing_ok=True)
        raise RuntimeError(f"ONNX export does not match torch: {parity}")
    card = ModelCard(
        name=f"{model_name}-imagenet-embedding",
        version=embedding_cache_key(spec, model_name),
        task="embedding",
        backbone=model_name,
        preprocessing=spec,
        inputs=[{"name": "image", "dtype": "float32", "shape": [-1, 3, spec.input_size, spec.input_size]}],
        outputs=[
            {"name": "embedding", "dtype": "float32", "shape": [-1, EMBEDDING_DIM], "l2_normalised": True},
            {"name": "logits", "dtype": "float32", "shape": [-1, IMAGENET_CLASSES], "labels": "imagenet-1k"},
        ]
        + (
            []
            if fit is None
            else [
                {
                    "name": "style",
                    "dtype": "float32",
                    "shape": [-1, STYLE_DIM],
                    "l2_normalised": True,
                    "what": f"Gram statistics of blocks {list(STYLE_BLOCKS)}, "
                    f"PCA fitted on {fit.n_images} generated paintings",
                },
                {"name": "layers", "dtype": "float32", "shape": [-1, LAYERS_DIM], "what": "multi-layer statistics"},
            ]
        ),
        weights_sha256=variant_weights_sha256(model_name),
        metrics={"onnx_parity_max_abs_diff": parity.max_abs_diff}
        | ({} if fit is None else {"style_projection_explained_variance": round(fit.explained_variance, 4)}),
        files={"onnx": onnx_path.name},
    )
    card.save(card_path)
    return onnx_path, card


def main(argv: list[str] | None = None) -> int:
    """``python -m edge_models.onnx_export CACHE_DIR [--spec JSON]``: build the embedding model."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m edge_models.onnx_export")
    p.add_argument("cache_dir")
    p.add_argument("--spec", default=None, help="preprocessing spec as JSON (default: the model's own)")
    p.add_argument("--model", default=DEFAULT_EMBEDDING_MODEL, help="the backbone (edge_models.embedding_variants)")
    args = p.parse_args(argv)
    spec = PreprocessSpec.from_dict(json.loads(args.spec)) if args.spec else None
    path, _ = export_embedding_model(Path(args.cache_dir), spec, args.model)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
