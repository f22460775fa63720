"""``artsnap train-codes SOURCE --bits 64 --out DIR``: a retrieval-code head from labelled folders.

    read + dedup + split ─► cached frozen features (clean + phone-like views) ─► code head
      (training_data)          (features, augment)                               (code_head)
    ─► test mAP, against the pretrained embedding ─► DIR: ONNX head, config, card, report
                                                      (code_model)

The same stages as ``train-classifier`` (same split, same feature cache, so features computed
for one are reused by the other); only the head and what is measured differ. The ONNX head is
checked against torch before the folder is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from .augment import PhoneAugment
from .classifier_backbone import get_backbone
from .code_head import CodeFitOptions, CodeHead, fit_code_head, head_outputs
from .code_model import CODE_CONFIG_NAME, CODE_ONNX_NAME, CODE_STATE_NAME, CODE_TASK, CodeConfig
from .features import FeatureRequest, extract_features
from .model_card import ModelCard, write_atomic
from .retrieval_metrics import retrieval_map
from .runtime import make_session
from .training_data import load_training_set
from .weights import BACKBONE_NAME, weights_sha256

__all__ = ["CodeTrainResult", "CodeTrainingOptions", "export_code_head", "train_codes"]


@dataclass(frozen=True)
class CodeTrainingOptions:
    """How to train a code head: everything :func:`train_codes` needs besides data and output."""

    cache_dir: Path
    """Feature cache (shared with ``train-classifier``) and the backbone's ONNX export."""
    bits: int = 64
    """Code length. 16-64 bits: 2-8 bytes per item in a binary index."""
    method: str = "csq"
    """``csq`` (binary codes) or ``float`` (a learned float embedding of ``bits`` numbers, to compare)."""
    aug_views: int = 2
    """Phone-like views per training image besides the clean one (see ``train-classifier``)."""
    hidden: int = 1024
    """Hidden layer width of the head (0: linear)."""
    epochs: int = 40
    similarity_weight: float = 0.0
    """Distil the pretrained neighbourhoods into the code (helps classes not trained on)."""
    seed: int = 0
    device: str | None = None
    """``cuda`` or ``cpu`` for training; None: CUDA when present."""
    progress: bool = True
    name: str | None = None


@dataclass
class CodeTrainResult:
    model_dir: Path
    version: str
    bits: int
    method: str
    labels: list[str]
    test_map: float
    pretrained_test_map: float
    n_test: int
    seconds: float
    device: str
    notes: list[str] = field(default_factory=list)


def train_codes(source: str | Path, out_dir: str | Path, options: CodeTrainingOptions) -> CodeTrainResult:
    started = time.perf_counter()
    out = Path(out_dir)
    choice = get_backbone(BACKBONE_NAME)
    spec = choice.spec
    augment = PhoneAugment()
    ts = load_training_set(source, seed=options.seed, progress=options.progress)
    try:
        if len(ts.labels) < 2:
            raise ValueError(f"{source}: need at least 2 labels to train retrieval codes, found {ts.labels}")
        keys = {s: ts.keys(s) for s in ("train", "val", "test")}
        if not keys["train"]:
            raise ValueError(f"{source}: no labelled images to train on")
        y = {s: ts.y(k) for s, k in keys.items()}
        extractor = choice.frozen_extractor(Path(options.cache_dir))

        def feats(split: str, views: list[int]) -> np.ndarray:
            reqs = [FeatureRequest(ts.sha256[k], ts.readers[k]) for k in keys[split]]
            return extract_features(
                reqs,
                views,
                extractor=extractor,
                spec=spec,
                cache_dir=Path(options.cache_dir),
                augment=augment,
                seed=options.seed,
                progress=options.progress,
            )

        views = list(range(1 + options.aug_views))
        train = feats("train", views)
        x_train = train.reshape(-1, train.shape[-1])
        y_train = np.repeat(y["train"], len(views), axis=0)
        x_val, x_test = feats("val", [0])[:, 0], feats("test", [0])[:, 0]
        fit_options = CodeFitOptions(
            method=options.method,
            hidden=options.hidden,
            epochs=options.epochs,
            similarity_weight=options.similarity_weight,
            seed=options.seed,
            device=options.device,
        )
        head, fit = fit_code_head(
            x_train, y_train, x_val, y["val"], bits=options.bits, n_classes=len(ts.labels), options=fit_options
        )

        # Test: held-out images query everything (clean views), as a collection would be searched.
        db = np.concatenate([train[:, 0], x_val, x_test])
        db_y = np.concatenate([y["train"], y["val"], y["test"]])
        rel = db_y if db_y.ndim == 1 else db_y.astype(bool)
        q_idx = np.arange(len(db) - len(x_test), len(db))
        codes = head_outputs(head, db, method=options.method)
        test_map = _map_queries(codes, rel, q_idx) if len(q_idx) else float("nan")
        base_map = _map_queries(db, rel, q_idx) if len(q_idx) else float("nan")

        version = _version(ts.fingerprint, head)
        config = CodeConfig(
            name=options.name or f"{Path(str(source)).stem}-codes-{options.bits}",
            version=version,
            method=options.method,
            bits=options.bits,
            input_dim=x_train.shape[1],
            embedding_space=choice.embedding_space,
            preprocessing=spec.to_dict(),
            labels=list(ts.labels),
            training_data_hash=ts.fingerprint,
            hidden=options.hidden,
            metrics={"test_map": round(test_map, 4), "pretrained_test_map": round(base_map, 4), "n_test": len(q_idx)},
            training={
                "best_epoch": fit.best_epoch,
                "epochs_run": fit.epochs_run,
                "val_map": round(fit.val_map, 4),
                "aug_views": options.aug_views,
                "similarity_weight": options.similarity_weight,
                "device": fit.device,
                "seed": options.seed,
            },
        )
        out.mkdir(parents=True, exist_ok=True)
        parity = export_code_head(head, out / CODE_ONNX_NAME, x_test if len(x_test) else x_val)
        config.metrics["onnx_parity"] = parity
        buf = io.BytesIO()
        torch.save({"state_dict": head.state_dict(), "config": config.to_dict()}, buf)
        write_atomic(out / CODE_STATE_NAME, buf.getvalue())
        write_atomic(out / CODE_CONFIG_NAME, json.dumps(config.to_dict(), indent=1).encode())
        code_card(config).save(out / "model_card.json")
        seconds = time.perf_counter() - started
        _write_report(out, config, fit.history, seconds)
        return CodeTrainResult(
            model_dir=out,
            version=version,
            bits=options.bits,
            method=options.method,
            labels=list(ts.labels),
            test_map=test_map,
            pretrained_test_map=base_map,
            n_test=len(q_idx),
            seconds=seconds,
            device=fit.device,
        )
    finally:
        ts.close()


def _map_queries(vectors: np.ndarray, rel: np.ndarray, q_idx: np.ndarray) -> float:
    """mAP over the whole database for the queries at ``q_idx`` (each query left out of its own ranking)."""
    keep = np.ones(len(vectors), bool)
    aps = []
    for i in q_idx:
        keep[i] = False
        aps.append(retrieval_map(vectors[keep], rel[keep], vectors[i : i + 1], rel[i : i + 1]))
        keep[i] = True
    return float(np.mean(aps))


def export_code_head(head: CodeHead, path: Path, probe: np.ndarray) -> dict[str, float]:
    """``embedding (N, D) → code_logits (N, bits)`` as ONNX, atomically; parity with torch on ``probe``."""
    head = head.eval().cpu()
    dim = int(head.mean.shape[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
            program = torch.onnx.export(
                head,
                (torch.zeros(2, dim),),
                input_names=["embedding"],
                output_names=["code_logits"],
                dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=1 << 20)},),
                opset_version=18,
                dynamo=True,
                verbose=False,
            )
            program.save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    x = np.ascontiguousarray(probe[:512] if len(probe) else np.zeros((1, dim)), np.float32)
    with torch.no_grad():
        ref = head(torch.from_numpy(x)).numpy()
    got = make_session(path, device="cpu").run(["code_logits"], {"embedding": x})[0]
    agree = float(np.mean((ref >= 0) == (got >= 0)))
    diff = float(np.max(np.abs(ref - got)))
    if diff > 1e-3:
        path.unlink(missing_ok=True)
        raise RuntimeError(f"the ONNX code head does not match torch (max |diff| {diff:.2g})")
    return {"max_abs_diff": diff, "bit_agreement": agree, "n": len(x)}


def code_card(config: CodeConfig) -> ModelCard:
    """The registry's view: task ``retrieval-code``, one server file, and the input's embedding space."""
    from .preprocessing import PreprocessSpec

    return ModelCard(
        name=config.name,
        version=config.version,
        task=CODE_TASK,
        backbone=BACKBONE_NAME,
        preprocessing=PreprocessSpec.from_dict(config.preprocessing),
        inputs=[
            {
                "name": "embedding",
                "dtype": "float32",
                "shape": [-1, config.input_dim],
                "embedding_space": config.embedding_space,
                "note": "the backbone's L2-normalised embedding (the server's 'cnn' vector)",
            }
        ],
        outputs=[
            {
                "name": "code_logits",
                "dtype": "float32",
                "shape": [-1, config.bits],
                "description": "bit i of the code is 1 where code_logits[i] >= 0"
                if config.binary
                else "a float embedding: divide by its norm",
            }
        ],
        labels=list(config.labels),
        metrics=dict(config.metrics),
        training_data_hash=config.training_data_hash,
        weights_sha256=weights_sha256(),
        files={"onnx": CODE_ONNX_NAME},
        extra={
            # The space of the head's *input*: the registry checks it is this server's.
            "embedding_space": config.embedding_space,
            "bits": config.bits,
            "method": config.method,
            "binary": config.binary,
        },
    )


def _version(data_hash: str, head: CodeHead) -> str:
    h = hashlib.sha256(data_hash.encode())
    for name, t in sorted(head.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().numpy().tobytes())
    return f"{datetime.now(UTC):%Y%m%d}-{h.hexdigest()[:8]}"


def _write_report(out: Path, config: CodeConfig, history: list[dict[str, float]], seconds: float) -> None:
    m = config.metrics
    lines = [
        f"# {config.name} {config.version}",
        "",
        f"{config.bits}-{'bit codes' if config.binary else 'd float embedding'} ({config.method}) on the frozen "
        f"{BACKBONE_NAME} embedding; {len(config.labels)} labels; trained in {seconds:.0f} s on {config.training['device']}.",
        "",
        "| test images query the whole collection (held out, clean) | mAP |",
        "|---|---|",
        f"| this head | {m['test_map']:.4f} |",
        f"| pretrained embedding (cosine) | {m['pretrained_test_map']:.4f} |",
        "",
        f"{m['n_test']} queries; best epoch {config.training['best_epoch']} (validation mAP "
        f"{config.training['val_map']:.4f}); ONNX vs torch: bit agreement {m['onnx_parity']['bit_agreement']:.4%}.",
    ]
    write_atomic(out / "report.md", ("\n".join(lines) + "\n").encode())
    write_atomic(out / "report.json", json.dumps({"config": config.to_dict(), "history": history}, indent=1).encode())
