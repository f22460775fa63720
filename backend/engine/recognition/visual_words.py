"""Visual words: the second route to candidates, through the whole catalogue's local features.

The global embedding finds paintings that *look alike*; when a visitor's head or the photo's
edge hides part of the painting, or the angle is steep, the true painting can fall out of
its shortlist. Local features survive that: each ORB descriptor of the photo is quantised to
a visual word, and the catalogue items that share the most (rare) words with the photo are
the candidates (Sivic & Zisserman's "Video Google"; Nistér & Stewénius' vocabulary tree).

* The vocabulary is a two-level tree: ``b`` coarse words, each split into ``b`` fine words
  (``b * b`` words, 16 384 at most). Training is small k-means runs instead of one with
  thousands of centres (seconds instead of minutes), and quantising a photo's descriptors
  compares each with about ``9 b`` centres instead of ``b * b``. k-means runs on the
  descriptors' bits as floats; centres are re-binarised.
* Lookup is a faiss ``IndexBinaryIVF`` whose lists hold the fine words (``nprobe`` coarse
  cells are searched, so a descriptor near a cell border still finds its word).
* Many words, about one per 20 stored descriptors: fine words are specific enough that a
  shared one is evidence (going from 4 096 to 16 384 words on 1 000 paintings took the
  true painting from the words' top 10 for most snaps to nearly all; see the report of
  ``benchmarks/recognition_calibration.py``).
* Scoring is tf-idf cosine with binary term frequencies (a word counts once per image:
  repetitive texture then cannot outvote the rest), over an inverted index kept as numpy
  arrays (word → the catalogue items that have it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import faiss
import numpy as np

from .faiss_threads import one_faiss_thread

__all__ = [
    "MAX_WORDS",
    "NO_WORD",
    "TRAINING_SAMPLE",
    "Vocabulary",
    "WordIndex",
    "train_vocabulary",
    "vocabulary_size",
]

NO_WORD = 0xFFFF
"""The word stored for keypoints saved before their collection had a vocabulary."""
MAX_WORDS = 128 * 128
"""Words of the largest vocabulary; ids fit the uint16 the store keeps."""
TRAINING_SAMPLE = 100_000
"""Descriptors drawn from the collection to train its vocabulary."""
_NPROBE = 8
"""Coarse cells searched per descriptor: with many fine words, a descriptor's true word is
often in a neighbouring cell."""
_NITER = 10


def vocabulary_size(n_descriptors: int) -> int:
    """Words for a collection with this many stored descriptors: about one word per 20
    descriptors (so a word occurs in several items), a square from 16 x 16 to 128 x 128."""
    branches = min(128, max(16, round(math.sqrt(n_descriptors / 20))))
    return branches * branches


def _kmeans_binary(descriptors: np.ndarray, k: int, seed: int) -> np.ndarray:
    """(k', 32) uint8 binary centres of ``descriptors`` (k' <= k when there are few points)."""
    k = min(k, len(descriptors))
    bits = np.unpackbits(descriptors, axis=1).astype(np.float32)
    km = faiss.Kmeans(
        bits.shape[1], k, niter=_NITER, seed=seed, verbose=False, min_points_per_centroid=1, max_points_per_centroid=256
    )
    km.train(bits)
    centres: np.ndarray = np.packbits((km.centroids > 0.5).astype(np.uint8), axis=1)
    return centres


def train_vocabulary(descriptors: np.ndarray, words: int, *, seed: int = 1234) -> np.ndarray:
    """A vocabulary tree of ``words`` (a square) words from a sample of ORB descriptors.

    Returned as one (b + b * b, 32) uint8 array: the ``b`` coarse centres, then the fine
    centres of coarse cell 0, 1, … (rows of a cell with too few descriptors repeat its
    coarse centre). Fine word ``j`` of cell ``c`` is word ``c * b + j``.
    """
    b = math.isqrt(words)
    if b * b != words:
        raise ValueError(f"a vocabulary tree needs a square number of words, not {words}")
    if len(descriptors) < b:
        raise ValueError(f"need at least {b} descriptors to train {words} words, got {len(descriptors)}")
    coarse = _kmeans_binary(descriptors, b, seed)
    coarse = np.concatenate([coarse, np.repeat(coarse[:1], b - len(coarse), 0)])
    index = faiss.IndexBinaryFlat(coarse.shape[1] * 8)
    index.add(coarse)
    with one_faiss_thread():
        _, cell = index.search(descriptors, 1)
    fine = np.repeat(coarse, b, axis=0)  # cells with too few members keep their coarse centre
    for c in range(b):
        members = descriptors[cell[:, 0] == c]
        if len(members):
            centres = _kmeans_binary(members, b, seed + 1 + c)
            fine[c * b : c * b + len(centres)] = centres
    return np.concatenate([coarse, fine])


class Vocabulary:
    """A trained vocabulary tree, ready to quantise descriptors (safe to share between threads)."""

    def __init__(self, tree: np.ndarray) -> None:
        total = len(tree)
        b = (math.isqrt(4 * total + 1) - 1) // 2  # total = b + b * b
        if b + b * b != total:
            raise ValueError(f"a vocabulary tree has b + b*b rows, not {total}")
        self.tree = np.ascontiguousarray(tree, np.uint8)
        self.size = b * b
        coarse = faiss.IndexBinaryFlat(tree.shape[1] * 8)
        coarse.add(self.tree[:b])
        self._coarse = coarse  # the IVF below does not own its quantizer: keep it alive
        ivf = faiss.IndexBinaryIVF(coarse, tree.shape[1] * 8, b)
        ivf.is_trained = True
        ivf.add_with_ids(self.tree[b:], np.arange(self.size, dtype=np.int64))
        ivf.nprobe = min(_NPROBE, b)
        self._ivf = ivf

    def words(self, descriptors: np.ndarray) -> np.ndarray:
        """(n,) uint16 word of each (n, 32) descriptor."""
        if not len(descriptors):
            return np.zeros(0, np.uint16)
        with one_faiss_thread():
            _, ids = self._ivf.search(np.ascontiguousarray(descriptors, np.uint8), 1)
        words: np.ndarray = ids[:, 0].astype(np.uint16)
        return words


@dataclass(frozen=True)
class WordIndex:
    """Inverted index over a collection: for each word, the items (rows of ``ids``) having it.

    ``postings[offsets[w]:offsets[w + 1]]`` are the item rows with word ``w``; ``idf`` and
    the items' tf-idf ``norms`` make the cosine of :meth:`top`.
    """

    ids: np.ndarray  # (n,) int64 item ids
    postings: np.ndarray  # int32 item rows, grouped by word
    offsets: np.ndarray  # (words + 1,) int64
    idf: np.ndarray  # (words,) float32
    norms: np.ndarray  # (n,) float32

    @staticmethod
    def build(ids: np.ndarray, item_rows: np.ndarray, words: np.ndarray, n_words: int) -> WordIndex:
        """From every stored keypoint's item row (index into ``ids``) and word."""
        n = len(ids)
        valid = words.astype(np.int64) < n_words
        pairs = np.unique(words[valid].astype(np.int64) * max(n, 1) + item_rows[valid].astype(np.int64))
        word_of, row_of = pairs // max(n, 1), pairs % max(n, 1)
        offsets = np.searchsorted(word_of, np.arange(n_words + 1)).astype(np.int64)
        df = np.diff(offsets)
        idf = np.log((n + 1) / (df + 1)).astype(np.float32)
        norms = np.sqrt(np.bincount(row_of, weights=idf[word_of] ** 2, minlength=n)).astype(np.float32)
        return WordIndex(ids=ids, postings=row_of.astype(np.int32), offsets=offsets, idf=idf, norms=norms)

    def top(self, words: np.ndarray, k: int, *, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` items most like a photo with these words: (ids, cosine scores), best first."""
        n = len(self.ids)
        w = np.unique(words.astype(np.int64))
        w = w[w < len(self.idf)]
        if not n or not len(w):
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        starts, ends = self.offsets[w], self.offsets[w + 1]
        lengths = ends - starts
        total = int(lengths.sum())
        if total == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        # every posting of every query word, gathered without a Python loop
        gather = np.arange(total, dtype=np.int64) + np.repeat(
            starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths
        )
        weight = np.repeat(self.idf[w] ** 2, lengths)
        scores = np.bincount(self.postings[gather], weights=weight, minlength=n).astype(np.float32)
        q_norm = float(np.sqrt((self.idf[w] ** 2).sum())) or 1.0
        scores /= np.maximum(self.norms, 1e-9) * q_norm
        if allowed is not None:
            scores[~np.isin(self.ids, allowed)] = 0.0
        k = min(k, n)
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best], kind="stable")]
        best = best[scores[best] > 0]
        return self.ids[best], scores[best]
