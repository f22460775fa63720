"""The images benchmarks run on: WikiArt and CIFAR-10 from ``../shared/datasets``, or generated.

The shared zips are stored uncompressed, so members are read in place (no extraction) with one
``ZipFile`` handle per thread. Every set is an :class:`ImageSet`: names, integer labels, class
names and ``read(i) -> bytes``; sections never care where the bytes come from. When the
shared folder is absent, speed sections fall back to :func:`generated_images` (the project's
own procedural paintings) and quality sections are skipped with a reason.
"""

from __future__ import annotations

import io
import os
import threading
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

WIKIART_ZIP = "wikiart-styles-3500.zip"
CIFAR_ZIP = "cifar10-jpeg.zip"


def shared_datasets_dir() -> Path | None:
    """``$ARTSNAP_SHARED_DIR/datasets``, else ``../shared/datasets`` beside the checkout or the cwd."""
    env = os.environ.get("ARTSNAP_SHARED_DIR")
    candidates = [Path(env) / "datasets"] if env else []
    repo = Path(__file__).resolve().parents[1]
    candidates += [repo.parent / "shared" / "datasets", Path.cwd().parent / "shared" / "datasets"]
    for c in candidates:
        if c.is_dir():
            return c
    return None


@dataclass
class ImageSet(ABC):
    """Labelled images, read lazily by index (subclasses say where the bytes come from)."""

    name: str
    names: list[str]
    labels: np.ndarray  # (n,) int
    class_names: list[str]

    def __len__(self) -> int:
        return len(self.names)

    @abstractmethod
    def read(self, i: int) -> bytes:
        """The encoded bytes of image ``i``."""

    def subset(self, indices: Sequence[int], name: str | None = None) -> ImageSet:
        return _Subset(
            name or self.name,
            [self.names[i] for i in indices],
            self.labels[np.asarray(indices, int)],
            self.class_names,
            self,
            list(indices),
        )

    def balanced(self, n: int, seed: int = 0, name: str | None = None) -> ImageSet:
        """About ``n`` images, the same number per class where possible, in a fixed order."""
        rng = np.random.default_rng(seed)
        per = max(1, -(-n // max(1, len(self.class_names))))
        picked: list[int] = []
        for c in range(len(self.class_names)):
            idx = np.flatnonzero(self.labels == c)
            picked += sorted(rng.permutation(idx)[:per].tolist())
        picked = sorted(picked[: max(n, 0)] if len(picked) > n else picked)
        return self.subset(picked, name)

    def write_folder(self, folder: Path) -> Path:
        """Materialise as ``folder/<class>/<file>`` (folder-per-label, as ``artsnap ingest`` reads)."""
        for i, n in enumerate(self.names):
            dest = folder / self.class_names[int(self.labels[i])] / Path(n).name
            dest.parent.mkdir(parents=True, exist_ok=True)
            if not dest.exists():
                dest.write_bytes(self.read(i))
        return folder


@dataclass
class ZipImageSet(ImageSet):
    path: Path = Path()
    _local: threading.local = field(default_factory=threading.local, repr=False)

    def read(self, i: int) -> bytes:
        zf = getattr(self._local, "zf", None)
        if zf is None:
            zf = self._local.zf = zipfile.ZipFile(self.path)
        return zf.read(self.names[i])


@dataclass
class MemoryImageSet(ImageSet):
    blobs: list[bytes] = field(default_factory=list, repr=False)

    def read(self, i: int) -> bytes:
        return self.blobs[i]


@dataclass
class _Subset(ImageSet):
    parent: ImageSet | None = None
    index: list[int] = field(default_factory=list)

    def read(self, i: int) -> bytes:
        assert self.parent is not None
        return self.parent.read(self.index[i])


@dataclass
class _Concat(ImageSet):
    parts: tuple[ImageSet, ...] = ()

    def read(self, i: int) -> bytes:
        for p in self.parts:
            if i < len(p):
                return p.read(i)
            i -= len(p)
        raise IndexError(i)


def concat(*parts: ImageSet) -> ImageSet:
    """One set made of several with the same classes, in order."""
    return _Concat(
        name="+".join(p.name for p in parts),
        names=[n for p in parts for n in p.names],
        labels=np.concatenate([p.labels for p in parts]),
        class_names=parts[0].class_names,
        parts=tuple(parts),
    )


def _zip_members(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as zf:
        return sorted(i.filename for i in zf.infolist() if not i.is_dir() and i.filename.lower().endswith(".jpg"))


def wikiart(path: Path, *, include_duplicates: bool = False) -> ImageSet:
    """``<style>/<style>_NNNN.jpg``; the 80 ``*_dupNNN.jpg`` files (40 identical pairs, some
    filed under two styles) are left out unless asked for, so each painting has one style."""
    members = [m for m in _zip_members(path) if include_duplicates or "_dup" not in Path(m).name]
    styles = sorted({m.split("/")[0] for m in members})
    labels = np.array([styles.index(m.split("/")[0]) for m in members], np.int64)
    return ZipImageSet(name="wikiart", names=members, labels=labels, class_names=styles, path=path)


def cifar10(path: Path) -> tuple[ImageSet, ImageSet]:
    """(train, test), each ``<split>/<class>/NNNN.jpg`` in sorted order."""
    members = _zip_members(path)
    classes = sorted({m.split("/")[1] for m in members})
    out = []
    for split in ("train", "test"):
        ms = [m for m in members if m.startswith(split + "/")]
        labels = np.array([classes.index(m.split("/")[1]) for m in ms], np.int64)
        out.append(ZipImageSet(name=f"cifar10-{split}", names=ms, labels=labels, class_names=classes, path=path))
    return out[0], out[1]


def generated_images(n: int, *, size: int = 224, seed: int = 0) -> ImageSet:
    """``n`` procedurally painted JPEGs in the demo collection's visual families."""
    from dataset_tools.demo import FAMILIES, paint

    families = list(FAMILIES)
    names, labels, blobs = [], [], []
    for i in range(n):
        fam = families[i % len(families)]
        img = paint(fam, i // len(families), size=size, seed=seed)
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=90)
        names.append(f"{fam}/{fam}_{i // len(families):04d}.jpg")
        labels.append(i % len(families))
        blobs.append(buf.getvalue())
    return MemoryImageSet(
        name="generated", names=names, labels=np.array(labels, np.int64), class_names=families, blobs=blobs
    )
