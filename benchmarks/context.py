"""What every section shares in one run: settings, data sets, descriptors, caches, scratch space.

One model is loaded once per run (the server path: ``ensure_embedding_model`` + ONNX Runtime
via :class:`CnnDescriptor`), data-set embeddings are computed once and reused across sections
(WikiArt serves the style figure, the camera figure and the memory section's vectors), and
each section that builds collections gets its own empty scratch data folder, so a benchmark
never touches the user's catalog and re-runs start from the same state.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from backend.config import Settings
from backend.engine.descriptors import CnnDescriptor, ColorDescriptor

from .datasets import CIFAR_ZIP, WIKIART_ZIP, ImageSet, cifar10, generated_images, shared_datasets_dir, wikiart
from .embeddings import EmbeddingCache, describe_image_set


@dataclass
class BenchContext:
    settings: Settings
    quick: bool
    datasets_dir: Path | None = None
    seed: int = 0
    #: where the report is written (figures go beside it); None outside a report run
    out: Path | None = None
    _memo: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def create(cls, settings: Settings, quick: bool, *, datasets_dir: Path | None | str = "auto") -> BenchContext:
        ds = shared_datasets_dir() if datasets_dir == "auto" else (Path(datasets_dir) if datasets_dir else None)
        return cls(settings=settings, quick=quick, datasets_dir=ds)

    # -- logging ----------------------------------------------------------------------------
    @staticmethod
    def log(msg: str) -> None:
        from tqdm import tqdm

        tqdm.write(f"[bench] {msg}", file=sys.stderr)

    # -- places -----------------------------------------------------------------------------
    @property
    def cache_dir(self) -> Path:
        return self.settings.data_dir / "bench-cache"

    def figure_path(self, name: str) -> Path:
        """Where a section writes a figure: beside the report (``BENCHMARKS-NAME``), so the
        report links it by a relative name; under the data folder when there is no report."""
        if self.out is not None:
            return self.out.with_name(f"{self.out.stem}-{name}")
        return self.settings.data_dir / "bench-figures" / name

    def scratch(self, name: str, *, keep: bool = False) -> Settings:
        """Settings for an empty data folder of this section's own (the model cache is shared).

        SQLite in the scratch folder, whatever ``database_url`` the run was given: benchmark
        collections must never land in a real catalog.
        """
        root = self.settings.data_dir / "bench-scratch" / name
        if root.exists() and not keep:
            shutil.rmtree(root)
        root.mkdir(parents=True, exist_ok=True)
        models = root / "models"
        self.settings.models_dir.mkdir(parents=True, exist_ok=True)
        if not models.exists():
            models.symlink_to(self.settings.models_dir, target_is_directory=True)
        return replace(self.settings, data_dir=root, database_url="")

    # -- models -----------------------------------------------------------------------------
    @property
    def cnn(self) -> CnnDescriptor:
        if "cnn" not in self._memo:
            d = CnnDescriptor(self.settings.models_dir)
            d.model  # noqa: B018 - export (first run) and load now, not inside a timed loop
            self._memo["cnn"] = d
        return self._memo["cnn"]

    @property
    def color(self) -> ColorDescriptor:
        return self._memo.setdefault("color", ColorDescriptor())

    def cache(self, descriptor: Any) -> EmbeddingCache:
        key = f"cache:{descriptor.name}"
        if key not in self._memo:
            self._memo[key] = EmbeddingCache(self.cache_dir, descriptor.name, descriptor.version, descriptor.dim)
        return self._memo[key]

    def describe(self, images: ImageSet, descriptor: Any) -> np.ndarray:
        """Descriptors of a whole set (disk-cached by file hash, memoised for the run)."""
        key = f"vecs:{descriptor.name}:{images.name}:{len(images)}"
        if key not in self._memo:
            self._memo[key] = describe_image_set(
                images, descriptor, self.cache(descriptor), max_pixels=self.settings.max_pixels
            )
        return self._memo[key]

    # -- data -------------------------------------------------------------------------------
    def wikiart(self) -> ImageSet | None:
        if "wikiart" not in self._memo:
            path = self.datasets_dir / WIKIART_ZIP if self.datasets_dir else None
            self._memo["wikiart"] = wikiart(path) if path and path.is_file() else None
        return self._memo["wikiart"]

    def wikiart_with_duplicates(self) -> ImageSet | None:
        if "wikiart+dups" not in self._memo:
            path = self.datasets_dir / WIKIART_ZIP if self.datasets_dir else None
            self._memo["wikiart+dups"] = wikiart(path, include_duplicates=True) if path and path.is_file() else None
        return self._memo["wikiart+dups"]

    def cifar(self) -> tuple[ImageSet, ImageSet] | None:
        if "cifar" not in self._memo:
            path = self.datasets_dir / CIFAR_ZIP if self.datasets_dir else None
            self._memo["cifar"] = cifar10(path) if path and path.is_file() else None
        return self._memo["cifar"]

    def missing(self, filename: str) -> str:
        where = self.datasets_dir or "../shared/datasets (or $ARTSNAP_SHARED_DIR/datasets)"
        return f"{filename} is not in {where}"

    def catalogue_images(self, n: int, *, seed: int = 0) -> ImageSet:
        """``n`` 224 px catalogue JPEGs: WikiArt (style-balanced) when present, else generated."""
        art = self.wikiart()
        if art is not None:
            return art.balanced(min(n, len(art)), seed=seed, name=f"wikiart-{n}-s{seed}")
        key = f"generated:{n}:{seed}"
        if key not in self._memo:
            self._memo[key] = generated_images(n, size=224, seed=seed)
        return self._memo[key]

    def threads(self) -> int:
        return self.settings.threads or (os.cpu_count() or 1)
