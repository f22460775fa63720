"""Frozen backbone features, computed once and cached on disk by file hash.

Why: training a head on frozen features is the cheap, strong baseline for small data
(thousands of images, a few hundred per class) — but only if the expensive part, the
backbone, runs once per image. Features are keyed by (extractor key, file SHA-256, view):
renaming or moving a file costs nothing, a re-labelled collection re-uses every feature, a
new backbone or preprocessing never silently re-uses old ones. View 0 is the clean image as
the server and the phone see it; views 1..K are phone-photo augmentations (see
:mod:`edge_models.augment`), so the head learns from "photos" without a backbone pass per
epoch.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from filelock import FileLock
from PIL import Image

from .augment import PhoneAugment, view_rng
from .classifier_backbone import FeatureExtractor
from .model_card import write_atomic
from .preprocessing import PreprocessSpec

log = logging.getLogger(__name__)

__all__ = ["FeatureCache", "FeatureRequest", "extract_features", "load_view"]


@dataclass(frozen=True)
class FeatureRequest:
    """One image whose features are wanted: its hash and a way to get its bytes."""

    sha256: str
    read: Callable[[], bytes]


class FeatureCache:
    """An on-disk ``{cache key → vector}`` store, one ``.npz`` per extractor.

    Small and simple on purpose: a 3 500-image collection with 3 views is ~54 MB of float32,
    read in well under a second. Writes are atomic (temp file + rename) and serialised by a
    file lock, so two training runs on the same machine cannot corrupt it.
    """

    def __init__(self, cache_dir: Path, extractor_key: str) -> None:
        self.path = Path(cache_dir) / f"features-{extractor_key}.npz"
        self._vectors: dict[str, np.ndarray] = {}
        self._dirty = False
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        try:
            with np.load(self.path, allow_pickle=False) as data:
                keys, vecs = data["keys"], data["vectors"]
            self._vectors = {str(k): v for k, v in zip(keys, vecs)}
        except (OSError, ValueError, KeyError) as exc:  # a damaged cache is just recomputed
            log.warning("ignoring unreadable feature cache %s: %s", self.path, exc)
            self._vectors = {}

    def __contains__(self, key: str) -> bool:
        return key in self._vectors

    def __len__(self) -> int:
        return len(self._vectors)

    def get(self, key: str) -> np.ndarray:
        return self._vectors[key]

    def put(self, key: str, vector: np.ndarray) -> None:
        self._vectors[key] = np.asarray(vector, dtype=np.float32)
        self._dirty = True

    def save(self) -> None:
        if not self._dirty:
            return
        with FileLock(str(self.path) + ".lock"):
            # Merge with what another process may have written meanwhile.
            mine = self._vectors
            self._vectors = {}
            self._load()
            self._vectors.update(mine)
            keys = np.array(sorted(self._vectors), dtype=str)
            vecs = np.stack([self._vectors[k] for k in keys]) if len(keys) else np.zeros((0, 0), np.float32)
            buf = io.BytesIO()
            np.savez(buf, keys=keys, vectors=vecs)
            write_atomic(self.path, buf.getvalue())
        self._dirty = False


def load_view(
    data: bytes,
    sha256: str,
    view: int,
    *,
    spec: PreprocessSpec,
    augment: PhoneAugment,
    seed: int = 0,
) -> Image.Image:
    """Decode ``data`` and return view ``view`` (0 = clean) as a Pillow image.

    Decoding goes through the engine's :func:`decode_image` (EXIF orientation, CMYK, 16-bit
    PNG...), asking the JPEG decoder for just enough pixels for the spec's resize.
    """
    from dataset_tools.images import decode_image

    img = decode_image(data, min_side=spec.resize_shorter).image
    if view == 0:
        return img
    # Augment at a modest size: the network sees 224 px, a 12 MP photo would only cost time.
    limit = int(spec.resize_shorter * 1.25)
    if min(img.size) > limit:
        scale = limit / min(img.size)
        img = img.resize(
            (max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.BILINEAR
        )
    return augment(img, view_rng(sha256, view, seed))


def extract_features(
    requests: Sequence[FeatureRequest],
    views: Sequence[int],
    *,
    extractor: FeatureExtractor,
    spec: PreprocessSpec,
    cache_dir: Path | None,
    augment: PhoneAugment | None = None,
    seed: int = 0,
    batch_size: int = 32,
    progress: bool = False,
) -> np.ndarray:
    """Features for every (request, view): array (len(requests), len(views), D).

    Only missing entries are computed; the cache is saved at the end (and every ~2 000
    images, so an interrupted run keeps most of its work).
    """
    augment = augment or PhoneAugment()
    cache = FeatureCache(cache_dir, extractor.key) if cache_dir is not None else None
    aug_tag = augment.version

    def key(sha: str, view: int) -> str:
        return f"{sha}:0" if view == 0 else f"{sha}:{view}:{seed}:{aug_tag}"

    results: dict[str, np.ndarray] = {}
    todo: list[tuple[FeatureRequest, int]] = []
    for req in requests:
        for v in views:
            k = key(req.sha256, v)
            if k in results:
                continue
            if cache is not None and k in cache:
                results[k] = cache.get(k)
            else:
                results[k] = None  # type: ignore[assignment]  # placeholder keeps the order; filled below
                todo.append((req, v))

    if todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc="features", unit="img", disable=not progress, leave=False)
        since_save = 0
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            by_sha: dict[str, bytes] = {}
            imgs = []
            for req, v in chunk:
                data = by_sha.get(req.sha256)
                if data is None:
                    data = by_sha[req.sha256] = req.read()
                imgs.append(load_view(data, req.sha256, v, spec=spec, augment=augment, seed=seed))
            vecs = extractor(spec.to_batch(imgs))
            for (req, v), vec in zip(chunk, vecs):
                k = key(req.sha256, v)
                results[k] = vec
                if cache is not None:
                    cache.put(k, vec)
            bar.update(len(chunk))
            since_save += len(chunk)
            if cache is not None and since_save >= 2000:
                cache.save()
                since_save = 0
        bar.close()
        if cache is not None:
            cache.save()

    if not requests:
        return np.zeros((0, len(views), 0), np.float32)
    return np.stack([np.stack([results[key(req.sha256, v)] for v in views]) for req in requests]).astype(np.float32)
