"""Hash centres: one well-separated binary code per class, the targets of central similarity hashing.

Central Similarity Quantization (Yuan et al., "Central Similarity Quantization for Efficient
Image and Video Retrieval", CVPR 2020) gives every class a *centre* in {−1, +1}^K and trains
codes towards their class's centre. Retrieval then works because centres are far apart: with
rows of a Hadamard matrix (and their negations) any two centres differ in exactly K/2 bits (or
all K, for a row and its negation), the largest minimum distance possible for up to 2K classes.
When K is not a power of two, or there are more than 2K classes, the paper samples Bernoulli
centres; here the best of a few hundred samples (largest minimum pairwise distance) is kept, so
the centres stay reproducible from the seed.
"""

from __future__ import annotations

import numpy as np

__all__ = ["hadamard", "hash_centers", "min_distance"]


def hadamard(k: int) -> np.ndarray:
    """Sylvester's Hadamard matrix of order ``k`` (a power of two), entries ±1."""
    if k < 1 or k & (k - 1):
        raise ValueError(f"Hadamard order must be a power of two, not {k}")
    h = np.ones((1, 1), np.int8)
    while len(h) < k:
        h = np.block([[h, h], [h, -h]])
    return h


def min_distance(centers: np.ndarray) -> int:
    """Smallest Hamming distance between two distinct rows of ±1 ``centers``."""
    c = np.asarray(centers, np.int64)
    if len(c) < 2:
        return int(c.shape[1])
    d = (c.shape[1] - c @ c.T) // 2
    np.fill_diagonal(d, c.shape[1])
    return int(d.min())


def hash_centers(n_classes: int, bits: int, *, seed: int = 0, tries: int = 400) -> np.ndarray:
    """(n_classes, bits) centres in {−1, +1} (float32), as far apart as the construction allows."""
    if n_classes < 1 or bits < 1:
        raise ValueError("need at least one class and one bit")
    rng = np.random.default_rng(seed)
    if bits & (bits - 1) == 0 and n_classes <= 2 * bits:
        h = hadamard(bits)
        # Rows of H first (each pair K/2 bits apart), their negations only past K classes.
        picked = np.concatenate([h, -h])[:n_classes]
        # A random permutation of the bit positions keeps the first row from being all ones.
        return picked[:, rng.permutation(bits)].astype(np.float32)
    best, best_d = None, -1
    for _ in range(tries):
        c = rng.choice(np.array([-1, 1], np.int8), size=(n_classes, bits))
        d = min_distance(c)
        if d > best_d:
            best, best_d = c, d
    assert best is not None
    return best.astype(np.float32)
