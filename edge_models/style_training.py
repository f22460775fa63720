"""``artsnap train-style SOURCE --out DIR``: the art-style embedding from a curator's labelled folders.

    read + dedup + split ─► the embedding graph's outputs, cached ─► PCA per segment ─► projection
      (training_data)        (layers, style, embedding; features)     (numpy SVD)        (supervised
                                                                                          contrastive)
    ─► fixed descriptor weights chosen on the validation split ─► held-out mAP@10
    ─► the image-type model and its per-kind weights (:mod:`.type_training`) ─► DIR

Why a trained projection on frozen multi-layer statistics: the generic descriptors (the pooled
embedding, the Gram statistics) describe *everything* a picture shows; a curator's "style"
is a particular cut through it that only their labels can teach. A supervised contrastive
loss (Khosla et al. 2020) pulls paintings of one label together and pushes the others away,
which is the ranking the related-images list needs (rather than a classifier's boundaries).
It trains in seconds on CPU because the backbone stays frozen and its outputs are cached
(the same feature cache ``train-classifier`` and ``train-codes`` use).

The result (:class:`edge_models.style_model.StyleModel`) is numpy-only at serving time.
Only the split's *test* images measure it; nothing trained or chose weights with them.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .embedding_model import ensure_embedding_model, layers_key
from .features import FeatureRequest, extract_features
from .learning_curve import sample_per_class
from .model_card import ModelCard
from .preprocessing import DEFAULT_SPEC
from .retrieval_metrics import retrieval_map
from .runtime import OnnxModel
from .style_model import STYLE_MODEL_JSON, STYLE_MODEL_NPZ, STYLE_TASK, ArtStyleProjection, Segment, StyleModel
from .style_spec import LAYERS_DIM, STAT_DIM, STYLE_DIM
from .training_data import TrainingSet, load_training_set
from .type_training import ART_KINDS, PHOTO_KIND, TypeQueries, TypeTrainResult, render_variant, train_types
from .weights import BACKBONE_NAME, weights_sha256

__all__ = ["CurvePoint", "StyleTrainResult", "StyleTrainingOptions", "fused_map", "train_style"]

#: Column ranges of the cached feature row: the graph's ``layers``, ``style`` and ``embedding``.
_LAYERS = slice(0, LAYERS_DIM)
_STYLE = slice(LAYERS_DIM, LAYERS_DIM + STYLE_DIM)
_CNN = slice(LAYERS_DIM + STYLE_DIM, None)


@dataclass(frozen=True)
class StyleTrainingOptions:
    cache_dir: Path
    """Feature cache and the backbone's ONNX export (shared with the other training commands)."""
    dim: int = 64
    """Size of the art-style embedding."""
    pca: int = 256
    """Principal components kept of each input segment (channel statistics, Gram features)."""
    hidden: int = 512
    """Hidden layer width of the projection (0: linear)."""
    epochs: int = 60
    temperature: float = 0.1
    seed: int = 0
    progress: bool = True
    name: str | None = None
    types: bool = True
    """Also train the image-type model and its per-kind weights (:mod:`.type_training`)."""
    variants_per_label: int = 40
    """Paintings per label and split rendered as a camera photo and as a drawing (rendering a
    camera photo takes a few tenths of a second)."""
    photos: Path | None = None
    """A folder or .zip of photographs that are not art (sub-folders: what they show), for the
    "photograph" kind; without it the type model knows only the kinds made from paintings."""
    photos_per_label: int = 30
    curve: tuple[int | None, ...] = ()
    """Also measure a learning curve: the projection retrained on this many training images per
    label (None: all), each scored on the same test split (empty: no curve)."""


@dataclass(frozen=True)
class CurvePoint:
    """One budget of the learning curve: held-out mAP@10 per descriptor and fused."""

    per_label: int | None  # requested training images per label (None: all)
    n_train: int  # training images used (a label may have fewer than requested)
    test_map: dict[str, float]
    fixed_weights: dict[str, float]


@dataclass
class StyleTrainResult:
    model_dir: Path
    version: str
    labels: list[str]
    test_map: dict[str, float]  # mAP@10 leave-one-out on the test split, per descriptor and fused
    fixed_weights: dict[str, float]
    n_test: int
    seconds: float
    notes: list[str] = field(default_factory=list)
    types: TypeTrainResult | None = None
    curve: list[CurvePoint] = field(default_factory=list)
    #: the test split's keys (source paths) and labels: what every figure was measured on
    test_keys: list[str] = field(default_factory=list)


class _AllOutputs:
    """Feature extractor: every output of the embedding graph that the style model reads."""

    def __init__(self, cache_dir: Path) -> None:
        path, card = ensure_embedding_model(Path(cache_dir))
        self.model = OnnxModel.load(path, card)
        self.key = f"onnx-style-{card.version}"

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        out = self.model.run(batch)
        return np.concatenate([out["layers"], out["style"], out["embedding"]], axis=1)


def _graph_outputs(requests: list[FeatureRequest], extractor: _AllOutputs, options: StyleTrainingOptions) -> np.ndarray:
    """Every graph output the style model reads, for ``requests`` (cached by image hash)."""
    return extract_features(
        requests,
        [0],
        extractor=extractor,
        spec=extractor.model.card.preprocessing,
        cache_dir=Path(options.cache_dir),
        progress=options.progress,
    )[:, 0]


def _unit(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)
    return out


def _pca_segment(x: np.ndarray, start: int, stop: int, k: int) -> Segment:
    part = x[:, start:stop].astype(np.float64)
    mean = part.mean(0)
    _, _, vt = np.linalg.svd(part - mean, full_matrices=False)
    return Segment(start, stop, mean.astype(np.float32), vt[: min(k, len(vt))].astype(np.float32))


def _supcon(z: torch.Tensor, y: torch.Tensor, t: float) -> torch.Tensor:
    s = z @ z.T / t
    eye = torch.eye(len(y), dtype=torch.bool)
    s = s.masked_fill(eye, -1e9)
    logp = s - torch.logsumexp(s, 1, keepdim=True)
    pos = (y[:, None] == y[None, :]) & ~eye
    return -(logp * pos).sum(1).div(pos.sum(1).clamp_min(1)).mean()


def _fit_projection(
    z_train: np.ndarray, y_train: np.ndarray, z_val: np.ndarray, y_val: np.ndarray, options: StyleTrainingOptions
) -> tuple[nn.Module, int, float]:
    """The projection network with the best validation mAP@10 (checked every few epochs)."""
    torch.manual_seed(options.seed)
    d = z_train.shape[1]
    body: list[nn.Module] = [nn.Dropout(0.3)]
    body += [nn.Linear(d, options.hidden), nn.ReLU(), nn.Linear(options.hidden, options.dim)] if options.hidden else []
    body += [] if options.hidden else [nn.Linear(d, options.dim)]
    net = nn.Sequential(*body)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-3)
    x, y = torch.from_numpy(z_train), torch.from_numpy(y_train)
    xv = torch.from_numpy(z_val)
    gen = torch.Generator().manual_seed(options.seed)
    best = (-1.0, 0, {k: v.clone() for k, v in net.state_dict().items()})
    for epoch in range(1, options.epochs + 1):
        net.train()
        for b in torch.randperm(len(x), generator=gen).split(256):
            loss = _supcon(nn.functional.normalize(net(x[b]), dim=1), y[b], options.temperature)
            opt.zero_grad()
            loss.backward()
            opt.step()
        if epoch % 5 == 0 or epoch == options.epochs:
            net.eval()
            with torch.no_grad():
                val = retrieval_map(_unit(net(xv).numpy()), y_val, k=10, exclude_self=True) if len(xv) > 1 else 0.0
            if val > best[0]:
                best = (val, epoch, {k: v.clone() for k, v in net.state_dict().items()})
    net.load_state_dict(best[2])
    return net.eval(), best[1], best[0]


def _as_projection(net: nn.Module, segments: list[Segment], mean: np.ndarray, std: np.ndarray) -> ArtStyleProjection:
    linears = [m for m in net if isinstance(m, nn.Linear)]
    ws = [(m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy()) for m in linears]
    if len(ws) == 2:
        return ArtStyleProjection(segments, mean, std, w2=ws[1][0], b2=ws[1][1], w1=ws[0][0], b1=ws[0][1])
    return ArtStyleProjection(segments, mean, std, w2=ws[0][0], b2=ws[0][1])


def fused_map(vectors: dict[str, np.ndarray], weights: dict[str, float], labels: np.ndarray) -> float:
    """mAP@10 leave-one-out of the weighted sum of cosine similarities (how search fuses)."""
    total = sum(weights.values()) or 1.0
    # Σ w_d cos_d(a, b) is the inner product of the rows [√w_d · v_d] concatenated.
    joint = np.concatenate([np.sqrt(w / total) * vectors[d] for d, w in weights.items() if w > 0], axis=1)
    return retrieval_map(joint, labels, k=10, exclude_self=True)


def _best_fixed_weights(vectors: dict[str, np.ndarray], labels: np.ndarray, step: float = 0.1) -> dict[str, float]:
    names = sorted(vectors)
    n = round(1 / step)
    best: tuple[float, dict[str, float]] = (-1.0, {})
    for combo in itertools.product(range(n + 1), repeat=len(names)):
        if sum(combo) != n:
            continue
        w = {d: c / n for d, c in zip(names, combo) if c}
        score = fused_map(vectors, w, labels)
        if score > best[0] + 1e-9:
            best = (score, w)
    return best[1]


def train_style(source: str | Path, out_dir: str | Path, options: StyleTrainingOptions) -> StyleTrainResult:
    started = time.perf_counter()
    ts = load_training_set(source, seed=options.seed, progress=options.progress)
    try:
        if len(ts.labels) < 2 or ts.multi_label:
            raise ValueError(f"{source}: an art-style embedding needs 2+ single labels, found {ts.labels}")
        keys = {s: ts.keys(s) for s in ("train", "val", "test")}
        if min(len(k) for k in keys.values()) < 2:
            raise ValueError(f"{source}: too few labelled images for train, validation and test splits")
        y = {s: ts.y(k) for s, k in keys.items()}
        extractor = _AllOutputs(options.cache_dir)
        feats = {
            s: _graph_outputs([FeatureRequest(ts.sha256[k], ts.readers[k]) for k in keys[s]], extractor, options)
            for s in keys
        }
        projection, best_epoch, val_map = _train_projection(
            feats["train"][:, _LAYERS], y["train"], feats["val"][:, _LAYERS], y["val"], options
        )
        fixed = _best_fixed_weights(_vectors(feats["val"], projection), y["val"])
        types = None
        if options.types:

            def describe(f: np.ndarray) -> dict[str, np.ndarray]:
                return _vectors(f, projection)

            types = _train_types(ts, keys, y, {s: describe(feats[s]) for s in keys}, describe, extractor, options)
        test_map = _test_maps(_vectors(feats["test"], projection), fixed, y["test"])
        curve = [_curve_point(n, feats, y, options) for n in options.curve]
        digest = hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes() for a in (projection.w2, projection.b2)))
        version = f"{time.strftime('%Y.%m.%d')}-{digest.hexdigest()[:8]}"
        model = StyleModel(
            name=options.name or f"{Path(str(source)).stem}-style",
            version=version,
            labels=list(ts.labels),
            embedding_model=layers_key(),
            projection=projection,
            fixed_weights=fixed,
            types=types.model if types is not None else None,
            type_weights=types.type_weights if types is not None else {},
            metrics={
                "test_map_at_10": {k: round(v, 4) for k, v in test_map.items()},
                "n_test": len(y["test"]),
                **(types.metrics() if types is not None else {}),
            },
            training={
                "best_epoch": best_epoch,
                "val_map_at_10": round(val_map, 4),
                "dim": options.dim,
                "pca": options.pca,
                "hidden": options.hidden,
                "seed": options.seed,
                "training_data_hash": ts.fingerprint,
                "counts": ts.counts(),
            },
        )
        out = Path(out_dir)
        model.save(out)
        _card(model, ts.fingerprint).save(out / "model_card.json")
        return StyleTrainResult(
            out,
            version,
            list(ts.labels),
            test_map,
            fixed,
            len(y["test"]),
            time.perf_counter() - started,
            types=types,
            curve=curve,
            test_keys=keys["test"],
        )
    finally:
        ts.close()


def _train_projection(
    train: np.ndarray, y_train: np.ndarray, val: np.ndarray, y_val: np.ndarray, options: StyleTrainingOptions
) -> tuple[ArtStyleProjection, int, float]:
    """PCA of each ``layers`` segment on ``train``, standardised, then the projection network
    (best epoch on validation); returns it with its best epoch and validation mAP@10."""
    segments = [_pca_segment(train, 0, STAT_DIM, options.pca), _pca_segment(train, STAT_DIM, LAYERS_DIM, options.pca)]
    reduce = ArtStyleProjection(
        segments, np.zeros(1, np.float32), np.ones(1, np.float32), np.zeros((1, 1)), np.zeros(1)
    )
    raw_train, raw_val = reduce.reduce(train), reduce.reduce(val)
    mean, std = raw_train.mean(0), raw_train.std(0) + 1e-6
    z_train, z_val = ((raw_train - mean) / std).astype(np.float32), ((raw_val - mean) / std).astype(np.float32)
    net, best_epoch, val_map = _fit_projection(z_train, y_train, z_val, y_val, options)
    return _as_projection(net, segments, mean.astype(np.float32), std.astype(np.float32)), best_epoch, val_map


def _vectors(f: np.ndarray, projection: ArtStyleProjection) -> dict[str, np.ndarray]:
    """Each descriptor's vectors from cached graph outputs (rows of ``f``)."""
    return {"cnn": f[:, _CNN], "style": f[:, _STYLE], "artstyle": projection(f[:, _LAYERS])}


def _test_maps(test: dict[str, np.ndarray], fixed: dict[str, float], y_test: np.ndarray) -> dict[str, float]:
    out = {d: retrieval_map(v, y_test, k=10, exclude_self=True) for d, v in test.items()}
    out["fixed weights"] = fused_map(test, fixed, y_test)
    return out


def _curve_point(
    per_label: int | None, feats: dict[str, np.ndarray], y: dict[str, np.ndarray], options: StyleTrainingOptions
) -> CurvePoint:
    """The projection and the fixed weights trained again with ``per_label`` training images per
    label (a seeded sample; validation and test unchanged), scored on the test split. ``cnn``
    and ``style`` learn nothing from labels: their points only repeat the test figure."""
    rows = sample_per_class(y["train"], per_label, np.random.default_rng(options.seed), multi_label=False)
    projection, _, _ = _train_projection(
        feats["train"][rows, _LAYERS], y["train"][rows], feats["val"][:, _LAYERS], y["val"], options
    )
    fixed = _best_fixed_weights(_vectors(feats["val"], projection), y["val"])
    test_map = _test_maps(_vectors(feats["test"], projection), fixed, y["test"])
    return CurvePoint(per_label, len(rows), test_map, fixed)


def _card(model: StyleModel, fingerprint: str) -> ModelCard:
    """The registry's view: task ``style``, two server files, the graph outputs it reads."""
    extra: dict[str, Any] = {"embedding_model": model.embedding_model, "dim": model.projection.dim}
    return ModelCard(
        name=model.name,
        version=model.version,
        task=STYLE_TASK,
        backbone=BACKBONE_NAME,
        preprocessing=DEFAULT_SPEC,
        inputs=[
            {"name": "layers", "dtype": "float32", "shape": [-1, LAYERS_DIM], "note": "the embedding graph's output"}
        ],
        outputs=[{"name": "artstyle", "dtype": "float32", "shape": [-1, model.projection.dim], "l2_normalised": True}],
        labels=list(model.labels),
        metrics=dict(model.metrics),
        training_data_hash=fingerprint,
        weights_sha256=weights_sha256(),
        files={"style_json": STYLE_MODEL_JSON, "style_npz": STYLE_MODEL_NPZ},
        extra=extra,
    )


def _train_types(
    ts: TrainingSet,
    keys: dict[str, list[str]],
    y: dict[str, np.ndarray],
    scans: dict[str, dict[str, np.ndarray]],
    describe: Any,
    extractor: _AllOutputs,
    options: StyleTrainingOptions,
) -> TypeTrainResult:
    """Queries of every kind per split (see :mod:`.type_training`), then the type model."""
    names = list(ART_KINDS) + ([PHOTO_KIND] if options.photos is not None else [])
    photos = _photo_splits(options) if options.photos is not None else None

    def features(requests: list[FeatureRequest]) -> np.ndarray:
        return _graph_outputs(requests, extractor, options)

    queries: dict[str, TypeQueries] = {}
    galleries: dict[str, dict[str, tuple[dict[str, np.ndarray], np.ndarray]]] = {}
    for split, split_keys in keys.items():
        taken: dict[int, int] = {}
        rows = []
        for row, label in enumerate(y[split]):
            if taken.get(int(label), 0) < options.variants_per_label:
                taken[int(label)] = taken.get(int(label), 0) + 1
                rows.append(row)
        parts: list[TypeQueries] = []
        for kind_index, kind in enumerate(ART_KINDS):
            if kind == "scan":
                vecs = {d: v[rows] for d, v in scans[split].items()}
            else:
                requests = [_variant_request(ts, split_keys[r], kind, options.seed) for r in rows]
                vecs = describe(features(requests))
            n = len(rows)
            parts.append(TypeQueries(np.full(n, kind_index), names, y[split][rows], np.asarray(rows), vecs))
        galleries[split] = {"art": (scans[split], y[split])}
        if photos is not None:
            requests, labels = photos[split]
            vecs = describe(features(requests))
            n = len(labels)
            parts.append(TypeQueries(np.full(n, names.index(PHOTO_KIND)), names, labels, np.full(n, -1), vecs))
            galleries[split]["photo"] = (vecs, labels)
        queries[split] = TypeQueries(
            np.concatenate([p.kinds for p in parts]),
            names,
            np.concatenate([p.labels for p in parts]),
            np.concatenate([p.source for p in parts]),
            {d: np.concatenate([p.vectors[d] for p in parts]) for d in parts[0].vectors},
        )
    return train_types(queries, galleries, ["cnn", "style", "artstyle"], seed=options.seed)


def _variant_request(ts: TrainingSet, key: str, kind: str, seed: int) -> FeatureRequest:
    sha = ts.sha256[key]
    read = ts.readers[key]
    variant_seed = (int(sha[:8], 16) + seed) % (2**32)
    return FeatureRequest(f"{sha}:{kind}:{seed}", lambda: render_variant(kind, read(), variant_seed))


def _photo_splits(options: StyleTrainingOptions) -> dict[str, tuple[list[FeatureRequest], np.ndarray]]:
    """Photographs per split: up to ``photos_per_label`` per folder, spread 70/15/15 by a
    seeded shuffle (their folders only say what relates them to each other)."""
    from dataset_tools.readers import open_source

    assert options.photos is not None
    src = open_source(options.photos)
    try:
        by_label: dict[str, list[Any]] = {}
        for record in src:
            label = record.source_path.rsplit("/", 2)[-2] if "/" in record.source_path else "photo"
            by_label.setdefault(label, []).append(record)
        rng = np.random.default_rng(options.seed)
        out: dict[str, tuple[list[FeatureRequest], list[int]]] = {s: ([], []) for s in ("train", "val", "test")}
        for li, label in enumerate(sorted(by_label)):
            records = sorted(by_label[label], key=lambda r: r.source_path)
            picked = [records[i] for i in rng.permutation(len(records))[: options.photos_per_label]]
            n_train, n_val = round(len(picked) * 0.7), round(len(picked) * 0.15)
            for i, record in enumerate(picked):
                split = "train" if i < n_train else "val" if i < n_train + n_val else "test"
                data = record.read()
                sha = hashlib.sha256(data).hexdigest()
                out[split][0].append(FeatureRequest(f"photo:{sha}", lambda data=data: data))
                out[split][1].append(li)
    finally:
        src.close()
    if any(len(labels) < 2 for _, labels in out.values()):
        raise ValueError(f"{options.photos}: too few photographs for train, validation and test splits")
    return {s: (requests, np.asarray(labels)) for s, (requests, labels) in out.items()}
