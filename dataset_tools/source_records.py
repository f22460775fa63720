"""The record every SOURCE reader hands to ingest, and the reading policy they share.

One place for what a record is (:class:`SourceRecord`), what a reader offers
(:class:`Source`), the two errors (the SOURCE unusable, or one record unreadable), and the
rules every reader applies alike: which names are images, what is OS litter, where a label
comes from, and that a file is read only if it lies inside the SOURCE after following links.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, Self, runtime_checkable

from .images import DecodedImage

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})

#: Largest single image we agree to read into memory.  A 12-megapixel phone JPEG is ~5 MB
#: and a museum TIFF-to-PNG master rarely passes 60 MB; anything bigger is far more likely a
#: zip bomb or a mislabelled video than an artwork.
DEFAULT_MAX_BYTES = 100 * 1024 * 1024

# Files that operating systems and archivers leave behind.  They are ignored silently
# (not counted as skipped), because no curator meant them as content.
JUNK_NAMES = frozenset({"thumbs.db", "desktop.ini", ".ds_store"})
JUNK_DIRS = frozenset({"__macosx"})


class SourceError(ValueError):
    """The SOURCE itself is unusable: missing, of an unknown kind, an unreadable zip, or a
    CSV without a ``path`` column.  Raised by :func:`open_source`, before any work starts."""


class SourceReadError(OSError):
    """One record cannot be read (file listed in a manifest but absent, member too large,
    corrupt zip member, a path or link leading outside the SOURCE).  Ingest reports it for
    that record and continues.  ``code``: ``unreadable`` or ``outside_source``."""

    def __init__(self, source_path: str, reason: str, *, code: str = "unreadable") -> None:
        super().__init__(f"{source_path}: {reason}")
        self.source_path = source_path
        self.reason = reason
        self.code = code


@dataclass(frozen=True)
class SourceRecord:
    """One image in a SOURCE, described but not yet read.

    ``source_path`` is the path relative to SOURCE in POSIX form (or, for a manifest, the
    path exactly as the manifest wrote it, with ``\\`` turned into ``/``); it is the
    identity ingest uses to resume and the one users see in search results.

    ``decoded`` is set by a producer that had to decode the image anyway to decide whether
    to hand it over (the Europeana pull falls back to the preview when the full image does
    not decode); ingest then uses it instead of decoding the bytes a second time. It must
    come from the ingest's own decoding (``IngestService.decode``), so the image has the
    size ingest keeps.
    """

    source_path: str
    labels: tuple[str, ...] = ()
    title: str | None = None
    extra: dict[str, str] = field(default_factory=dict, hash=False)
    decoded: DecodedImage | None = field(default=None, repr=False, compare=False, hash=False)
    _reader: Callable[[], bytes] | None = field(default=None, repr=False, compare=False, hash=False)

    @classmethod
    def from_bytes(
        cls,
        source_path: str,
        data: bytes,
        *,
        labels: tuple[str, ...] = (),
        title: str | None = None,
        extra: dict[str, str] | None = None,
        decoded: DecodedImage | None = None,
    ) -> SourceRecord:
        """A record whose image is already in memory (an upload, a download)."""
        return cls(
            source_path=source_path,
            labels=labels,
            title=title,
            extra=dict(extra or {}),
            decoded=decoded,
            _reader=lambda: data,
        )

    def read(self) -> bytes:
        """Return the file's bytes.  Thread-safe; raises :class:`SourceReadError`."""
        if self._reader is None:
            raise SourceReadError(self.source_path, "record has no reader")
        return self._reader()


@runtime_checkable
class Source(Protocol):
    """What every reader offers.  ``skipped_non_image`` counts visible files that are not
    images (``notes.txt``, ``scan.tif``) so ingest can tell the curator they were left out."""

    kind: str
    root: str
    skipped_non_image: int

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[SourceRecord]: ...

    def close(self) -> None: ...


def is_image_name(name: str) -> bool:
    """Whether a file name has one of :data:`IMAGE_SUFFIXES` (any case): ``A.JPG`` counts."""
    return posixpath.splitext(name)[1].lower() in IMAGE_SUFFIXES


def is_junk_part(part: str) -> bool:
    """Hidden files/folders (``.git``, ``._IMG.jpg`` from macOS) and OS litter."""
    low = part.lower()
    return part.startswith(".") or low in JUNK_NAMES or low in JUNK_DIRS


def label_of(rel_posix: str) -> tuple[str, ...]:
    parts = rel_posix.split("/")
    return (parts[0],) if len(parts) > 1 else ()


def inside(path: Path, root: Path, source_path: str) -> Path:
    """``path`` with every link followed, if that is still inside ``root`` (resolved);
    else :class:`SourceReadError` ``outside_source``. Checked when the record is read, so a
    file swapped for a link after listing is caught too."""
    real = path.resolve()
    if root != real and root not in real.parents:
        raise SourceReadError(
            source_path,
            "leads outside the source (a symbolic link or path to another place); only files inside it are read",
            code="outside_source",
        )
    return real


def read_file(path: Path, source_path: str, max_bytes: int, root: Path) -> bytes:
    try:
        path = inside(path, root, source_path)
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > max_bytes:
                raise SourceReadError(source_path, f"file is {size} bytes, larger than the {max_bytes}-byte limit")
            return fh.read()
    except SourceReadError:
        raise
    except FileNotFoundError:
        raise SourceReadError(source_path, f"file not found: {path}") from None
    except OSError as exc:
        raise SourceReadError(source_path, f"cannot read {path}: {exc.strerror or exc}") from exc


class Listed:
    """Base for readers that list their records once at open time."""

    kind: str = ""

    def __init__(self, root: str) -> None:
        self.root = root
        self.skipped_non_image = 0
        self._records: list[SourceRecord] = []

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[SourceRecord]:
        return iter(self._records)

    def close(self) -> None:
        """Release open handles (only the zip reader holds any)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.root!r}: {len(self)} images>"


def file_reader(path: Path, source_path: str, max_bytes: int, root: Path) -> Callable[[], bytes]:
    return lambda: read_file(path, source_path, max_bytes, root)
