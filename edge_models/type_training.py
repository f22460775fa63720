"""The image-type model (the "fourth model") and the descriptor weights it hands out, learnt
from a curator's labelled collection by ``artsnap train-style``.

What kind of picture a query is decides which descriptor should count most: a clean scan is
found by its content and art style, a phone photo of a painting on a wall carries the wall,
the light and the camera in its statistics, a drawing has lost the palette the colour-based
statistics rely on, and a photograph that is not art is only sensibly related by what it
shows. No one can set those weights well by hand, so they are learnt:

    training split ─► variants of each painting ─► the graph's outputs (cached) ─► softmax regression
      (scan, camera photo, drawing/print; photographs      (cnn, style: what the index keeps)
       from an optional folder of non-art photos)
    validation split ─► the best weights per kind (grid, mAP@10 of that kind's queries)
    test split ─► learnt per-query weights vs the best fixed weights, mAP@10

The variants come from the project's own simulators (:mod:`dataset_tools.camera_snap`,
:mod:`dataset_tools.drawing_effects`), so the only labelled data needed is the curator's
folders. Kinds with no data (sculptures and objects: a painting collection has none) are
not learnt; the model names only the kinds it was trained on.

Relevance for art queries is "same label as the query's painting", searched among the
split's clean scans without the query's own painting (finding itself is recognition's job,
not the style ranking's). For photographs it is "same folder" among the other photographs.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from .style_model import TypeModel

__all__ = [
    "ART_KINDS",
    "PHOTO_KIND",
    "TYPE_INPUTS",
    "TypeQueries",
    "TypeTrainResult",
    "best_weights",
    "fit_type_model",
    "per_query_ap",
    "render_variant",
]

#: Kinds rendered from every painting ("scan" is the painting itself).
ART_KINDS = ("scan", "camera_photo", "drawing")
PHOTO_KIND = "photograph"
#: What the type model reads: vectors every catalogue item keeps in its indexes, so an item's
#: kind is known from its stored vectors (``related``) as a photo's is from its description.
TYPE_INPUTS = ("cnn", "style")
#: Render size of simulated camera photos: the network sees 224 px, a larger render costs time only.
SNAP_SIZE = (448, 336)


def render_variant(kind: str, data: bytes, seed: int) -> bytes:
    """JPEG bytes of ``kind`` made from a painting's bytes (deterministic given ``seed``)."""
    from PIL import Image

    if kind == "scan":
        return data
    rng = np.random.default_rng(seed)
    img = Image.open(io.BytesIO(data)).convert("RGB")
    if kind == "camera_photo":
        from dataset_tools.camera_snap import simulate_snap

        return simulate_snap(img, rng, out_size=SNAP_SIZE).jpeg
    if kind == "drawing":
        from dataset_tools.drawing_effects import drawing_of

        buf = io.BytesIO()
        drawing_of(img, rng).save(buf, "JPEG", quality=90)
        return buf.getvalue()
    raise ValueError(f"unknown picture kind {kind!r}; known: {', '.join(ART_KINDS)}")


@dataclass
class TypeQueries:
    """Queries of one split: their kind, relevance label, descriptor vectors, and the gallery
    index of their own painting (-1: none in the gallery, a photograph)."""

    kinds: np.ndarray  # (n,) index into ``names``
    names: list[str]
    labels: np.ndarray  # (n,) relevance label
    source: np.ndarray  # (n,) row of the query's own painting in the gallery, or -1
    vectors: dict[str, np.ndarray]

    def select(self, rows: np.ndarray) -> TypeQueries:
        return TypeQueries(
            self.kinds[rows],
            self.names,
            self.labels[rows],
            self.source[rows],
            {d: v[rows] for d, v in self.vectors.items()},
        )


def per_query_ap(
    queries: Mapping[str, np.ndarray],
    q_labels: np.ndarray,
    gallery: Mapping[str, np.ndarray],
    g_labels: np.ndarray,
    weights: np.ndarray,
    names: Sequence[str],
    exclude: np.ndarray,
    *,
    k: int = 10,
) -> np.ndarray:
    """AP@k of each query ranked by ``Σ_d weights[q, d] · cos_d`` (how search fuses), the
    gallery row ``exclude[q]`` left out (-1: none). Same definition as ``retrieval_map``."""
    n = len(q_labels)
    if n == 0:
        return np.zeros(0)
    w = np.asarray(weights, np.float32).reshape(n, len(names))
    w = w / np.maximum(w.sum(1, keepdims=True), 1e-12)
    scores = np.zeros((n, len(g_labels)), np.float32)
    for j, d in enumerate(names):
        scores += w[:, j : j + 1] * (np.asarray(queries[d], np.float32) @ np.asarray(gallery[d], np.float32).T)
    rows = np.flatnonzero(exclude >= 0)
    scores[rows, exclude[rows]] = -np.inf
    k = min(k, len(g_labels) - (1 if (exclude >= 0).any() else 0))
    if k <= 0:
        return np.zeros(n)
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    rel = g_labels[top] == q_labels[:, None]
    prec = np.cumsum(rel, axis=1) / np.arange(1, k + 1)
    found = rel.sum(1)
    out: np.ndarray = np.where(found > 0, (prec * rel).sum(1) / np.maximum(found, 1), 0.0)
    return out


def weight_grid(names: Sequence[str], step: float = 0.1) -> list[np.ndarray]:
    """Every weighting of ``names`` on a ``step`` grid (summing to 1)."""
    n = round(1 / step)
    return [np.array(c, np.float32) / n for c in itertools.product(range(n + 1), repeat=len(names)) if sum(c) == n]


def best_weights(score: Callable[[np.ndarray], float], names: Sequence[str]) -> tuple[dict[str, float], float]:
    """The grid weighting with the highest ``score`` (the first one on ties: fewer surprises)."""
    best: tuple[float, np.ndarray | None] = (-1.0, None)
    for w in weight_grid(names):
        s = score(w)
        if s > best[0] + 1e-9:
            best = (s, w)
    assert best[1] is not None
    return {d: round(float(x), 2) for d, x in zip(names, best[1]) if x > 0}, best[0]


def fit_type_model(
    vectors: Mapping[str, np.ndarray], kinds: np.ndarray, names: list[str], *, l2: float = 1e-3, seed: int = 0
) -> TypeModel:
    """Softmax regression on the standardised :data:`TYPE_INPUTS`, kinds balanced (each kind
    weighs the same in the loss, however many examples it has)."""
    torch.manual_seed(seed)
    x = np.concatenate([np.asarray(vectors[d], np.float32) for d in TYPE_INPUTS], axis=1)
    mean, std = x.mean(0), x.std(0) + 1e-4
    xt = torch.from_numpy((x - mean) / std)
    yt = torch.from_numpy(kinds.astype(np.int64))
    counts = np.bincount(kinds, minlength=len(names)).astype(np.float32)
    balance = torch.from_numpy(np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / len(names), 0.0))
    lin = torch.nn.Linear(x.shape[1], len(names))
    opt = torch.optim.LBFGS(lin.parameters(), max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(lin(xt), yt, weight=balance.float()) + l2 * lin.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return TypeModel(
        types=list(names),
        inputs=list(TYPE_INPUTS),
        mean=mean.astype(np.float32),
        std=std.astype(np.float32),
        w=lin.weight.detach().numpy().T.astype(np.float32).copy(),
        b=lin.bias.detach().numpy().astype(np.float32).copy(),
    )


@dataclass
class TypeTrainResult:
    """What the type model learnt and how it did on the test split (see the module docstring)."""

    model: TypeModel
    type_weights: dict[str, dict[str, float]]
    mixed_fixed_weights: dict[str, float]
    test_accuracy: float
    test_map: dict[str, float]  # "learnt per-query", "best fixed", "true kind"
    test_map_by_kind: dict[str, dict[str, float]]
    counts: dict[str, dict[str, int]]
    notes: list[str] = field(default_factory=list)

    def metrics(self) -> dict[str, object]:
        return {
            "type_test_accuracy": round(self.test_accuracy, 4),
            "weights_test_map_at_10": {k: round(v, 4) for k, v in self.test_map.items()},
            "weights_test_map_by_kind": {
                kind: {k: round(v, 4) for k, v in m.items()} for kind, m in self.test_map_by_kind.items()
            },
            "mixed_fixed_weights": self.mixed_fixed_weights,
            "type_counts": self.counts,
        }


def evaluate_weights(
    q: TypeQueries,
    galleries: Mapping[str, tuple[Mapping[str, np.ndarray], np.ndarray]],
    weights: np.ndarray,
    names: Sequence[str],
) -> np.ndarray:
    """AP@10 of every query of ``q`` with its own row of ``weights``, each against the gallery
    of its kind (``galleries``: "art" for paintings' variants, "photo" for photographs)."""
    ap = np.zeros(len(q.labels))
    photo = q.names.index(PHOTO_KIND) if PHOTO_KIND in q.names else -1
    for group, rows in (("photo", np.flatnonzero(q.kinds == photo)), ("art", np.flatnonzero(q.kinds != photo))):
        if len(rows) == 0:
            continue
        vecs, labels = galleries[group]
        sub = q.select(rows)
        exclude = sub.source if group == "art" else rows_in_gallery(sub)
        ap[rows] = per_query_ap(sub.vectors, sub.labels, vecs, labels, weights[rows], names, exclude)
    return ap


def rows_in_gallery(q: TypeQueries) -> np.ndarray:
    """Photographs query the other photographs: each one's own row is its index among them."""
    return np.arange(len(q.labels))


def train_types(
    queries: Mapping[str, TypeQueries],
    galleries: Mapping[str, Mapping[str, tuple[Mapping[str, np.ndarray], np.ndarray]]],
    descriptors: Sequence[str],
    *,
    seed: int = 0,
) -> TypeTrainResult:
    """Fit the type model on ``queries["train"]``, choose weights on ``"val"``, measure on ``"test"``."""
    names = queries["train"].names
    model = fit_type_model(queries["train"].vectors, queries["train"].kinds, names, seed=seed)
    val, test = queries["val"], queries["test"]
    dn = list(descriptors)

    def score_on(q: TypeQueries, gal: Mapping[str, tuple[Mapping[str, np.ndarray], np.ndarray]]) -> Callable:
        return lambda w: float(evaluate_weights(q, gal, np.tile(w, (len(q.labels), 1)), dn).mean())

    type_weights: dict[str, dict[str, float]] = {}
    for i, kind in enumerate(names):
        rows = np.flatnonzero(val.kinds == i)
        if len(rows):
            type_weights[kind], _ = best_weights(score_on(val.select(rows), galleries["val"]), dn)
    fixed, _ = best_weights(score_on(val, galleries["val"]), dn)

    def as_rows(ws: Sequence[Mapping[str, float]]) -> np.ndarray:
        return np.array([[w.get(d, 0.0) for d in dn] for w in ws], np.float32)

    probs = model.probabilities({d: test.vectors[d] for d in TYPE_INPUTS})
    learnt = as_rows([_mix(names, p, type_weights, fixed) for p in probs])
    true_kind = as_rows([type_weights.get(names[k], fixed) for k in test.kinds])
    fixed_rows = np.tile(as_rows([fixed]), (len(test.labels), 1))
    ap = {
        "learnt per-query": evaluate_weights(test, galleries["test"], learnt, dn),
        "best fixed": evaluate_weights(test, galleries["test"], fixed_rows, dn),
        "true kind": evaluate_weights(test, galleries["test"], true_kind, dn),
    }
    by_kind = {
        kind: {k: float(a[test.kinds == i].mean()) for k, a in ap.items()}
        for i, kind in enumerate(names)
        if (test.kinds == i).any()
    }
    counts = {s: {kind: int((q.kinds == i).sum()) for i, kind in enumerate(names)} for s, q in queries.items()}
    return TypeTrainResult(
        model=model,
        type_weights=type_weights,
        mixed_fixed_weights=fixed,
        test_accuracy=float((probs.argmax(1) == test.kinds).mean()),
        test_map={k: float(a.mean()) for k, a in ap.items()},
        test_map_by_kind=by_kind,
        counts=counts,
    )


def _mix(
    names: Sequence[str], p: np.ndarray, per_kind: Mapping[str, Mapping[str, float]], fixed: Mapping[str, float]
) -> dict[str, float]:
    """The per-kind weights mixed by the type probabilities (as :meth:`StyleModel.weights_for`)."""
    out: dict[str, float] = {}
    for kind, pk in zip(names, p):
        for d, w in per_kind.get(kind, fixed).items():
            out[d] = out.get(d, 0.0) + float(pk) * float(w)
    return out
