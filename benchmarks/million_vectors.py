"""The million-item collection's vectors: real embeddings expanded by a perturbation model.

Embedding a million images takes days on 2 cores, and what the index figures depend on is
how many vectors there are and how they are spread, not which photos they came from. So the
collection is generated from *seeds*, real EfficientNet-Lite0 embeddings of real images
(CIFAR-10's database images when the data set is here, else WikiArt or the project's
generated paintings), by the model of :func:`.synthetic.realish_vectors`:

    item = normalise(seed_i + w·(seed_j − seed_i) + noise·g/√d),  w ~ U(0, mix), g ~ N(0, I)

Each item is a real embedding moved part of the way towards another real one, plus isotropic
noise; so the items form the clusters of the real embeddings (a copy of a seed stays closer
to its seed's neighbours than to anything else) and are not the nearly orthogonal random
unit vectors that flatter approximate indexes. Queries are drawn by the same model from
another random stream: new photos of things near the catalogue.

Generation is deterministic per chunk (seeded by (seed, chunk number)), so each index kind
is built from the same items without ever holding all million float vectors in memory
(5 GB); exact neighbours are found by streaming over the chunks once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .synthetic import realish_vectors

CHUNK = 50_000
NOISE = 0.5
MIX = 0.3


@dataclass(frozen=True)
class VectorModel:
    """``n`` items generated from ``seeds`` (unit rows) with their ``labels``; see the module doc."""

    seeds: np.ndarray
    labels: np.ndarray
    n: int
    seed: int = 0
    noise: float = NOISE
    mix: float = MIX

    @property
    def dim(self) -> int:
        return int(self.seeds.shape[1])

    def chunk(self, number: int, size: int = CHUNK) -> np.ndarray:
        start = number * size
        count = max(0, min(size, self.n - start))
        rng = np.random.default_rng([self.seed, number])
        return realish_vectors(self.seeds, count, rng, noise=self.noise, mix=self.mix)

    def chunks(self, size: int = CHUNK) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(catalog ids, unit vectors) in order; ids are 1..n as a fresh catalog numbers them."""
        for number, start in enumerate(range(0, self.n, size)):
            vecs = self.chunk(number, size)
            yield np.arange(start + 1, start + 1 + len(vecs), dtype=np.int64), vecs

    def queries(self, count: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, 1 << 30])
        return realish_vectors(self.seeds, count, rng, noise=self.noise, mix=self.mix)

    def seed_neighbour_share(self, sample: int = 2000) -> float:
        """How often an item's nearest *seed* is the seed it was made from (structure check)."""
        rng = np.random.default_rng([self.seed, 7])
        m = len(self.seeds)
        i = rng.integers(0, m, sample)
        v = self.seeds[i] + rng.standard_normal((sample, self.dim)).astype(np.float32) * (
            self.noise / np.sqrt(self.dim)
        )
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        return float(np.mean(np.argmax(v @ self.seeds.T, axis=1) == i))


def exact_neighbours(
    model: VectorModel, queries: np.ndarray, k: int, *, size: int = CHUNK
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k (ids, inner products) of ``queries`` over the whole collection, streamed."""
    best_s = np.full((len(queries), 0), -np.inf, np.float32)
    best_i = np.zeros((len(queries), 0), np.int64)
    for ids, vecs in model.chunks(size):
        s = queries @ vecs.T
        top = np.argpartition(-s, min(k, s.shape[1]) - 1, axis=1)[:, :k]
        cand_s = np.concatenate([best_s, np.take_along_axis(s, top, 1)], axis=1)
        cand_i = np.concatenate([best_i, ids[top]], axis=1)
        order = np.argsort(-cand_s, axis=1, kind="stable")[:, :k]
        best_s, best_i = np.take_along_axis(cand_s, order, 1), np.take_along_axis(cand_i, order, 1)
    return best_i, best_s


def recall_at_k(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Share of the true top-k found in the returned top-k (averaged over queries)."""
    hits = [len(np.intersect1d(f[:k][f[:k] >= 0], t[:k])) for f, t in zip(found, truth)]
    return float(np.mean(hits) / k) if hits else float("nan")
