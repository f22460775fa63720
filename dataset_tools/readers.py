"""Where a collection's images come from: a folder, a zip archive, a CSV manifest, or records in memory.

Every reader turns its SOURCE into the same thing, a sized, ordered sequence of
:class:`SourceRecord` s, so ingest has one loop whatever the curator hands us:

* **folder** — ``SOURCE/<label>/.../name.jpg``; the first-level folder name is the label,
  files at the top level have none.
* **zip** — the same layout inside the archive, read member by member without extracting
  (so a hostile ``../`` member name can never write anywhere).  A zip made by "compress this
  folder" wraps everything in one folder; that wrapper is stripped (see :class:`ZipSource`).
* **csv** — a manifest with a ``path`` column and optional ``label``/``title``/anything else,
  for collections whose labels do not live in folder names.
* **records** — :class:`RecordSource`, records a program built itself (the Europeana pull
  hands over the images it downloaded this way: bytes in memory, provenance in ``extra``).

Ingest never reads outside its SOURCE: a folder's symbolic links are followed only when
they end inside the folder, and a manifest's paths must be relative and stay inside the
manifest's folder (after following links). Anything else is a per-record
:class:`SourceReadError` with code ``outside_source``, so ``/etc/passwd`` behind a link or a
``../../`` row is reported, never read, copied into the media store or served.

Listing happens once, when the source is opened: ``len()`` is then free (progress bars),
a bad SOURCE fails immediately with :class:`SourceError` rather than half-way through an
ingest, and the order is fixed (sorted paths for folder/zip, manifest order for CSV) so a
resumed ingest and the tests see the same sequence.  Bytes are only read by
:meth:`SourceRecord.read`, which is safe to call from a thread pool; a record that cannot be
read raises :class:`SourceReadError` and ingest carries on with the next one.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable
from pathlib import Path

from .csv_source import CsvSource
from .source_records import (
    DEFAULT_MAX_BYTES,
    IMAGE_SUFFIXES,
    Listed,
    Source,
    SourceError,
    SourceReadError,
    SourceRecord,
    file_reader,
    is_image_name,
    is_junk_part,
    label_of,
)
from .zip_source import ZipSource

__all__ = [
    "DEFAULT_MAX_BYTES",
    "IMAGE_SUFFIXES",
    "CsvSource",
    "FolderSource",
    "RecordSource",
    "Source",
    "SourceError",
    "SourceReadError",
    "SourceRecord",
    "ZipSource",
    "is_image_name",
    "open_source",
]


def open_source(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Source:
    """Open a folder, a ``.zip`` archive or a ``.csv``/``.tsv`` manifest as a :class:`Source`.

    Raises :class:`SourceError` with a message fit for a curator when SOURCE cannot be used.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise SourceError(f"source {str(path)!r} does not exist")
    if p.is_dir():
        return FolderSource(p, max_bytes=max_bytes)
    if not p.is_file():
        raise SourceError(f"source {str(path)!r} is neither a folder nor a file")
    suffix = p.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return CsvSource(p, max_bytes=max_bytes)
    if suffix == ".zip" or zipfile.is_zipfile(p):
        return ZipSource(p, max_bytes=max_bytes)
    raise SourceError(f"source {str(path)!r} is not a folder, a .zip archive or a .csv manifest")


# ---------------------------------------------------------------------------------------
# folder


class FolderSource(Listed):
    """``SOURCE/<label>/.../image.jpg``.  Symlinked folders are not followed, so a link to
    ``/`` inside a collection cannot make ingest walk the whole disk; a symlinked *file* is
    read only if it ends inside the folder."""

    kind = "folder"

    def __init__(self, folder: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        super().__init__(str(folder.resolve()))
        base = Path(self.root)
        rels: list[str] = []
        for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
            dirnames[:] = [d for d in dirnames if not is_junk_part(d)]
            rel_dir = Path(dirpath).relative_to(base).as_posix()
            for name in filenames:
                if is_junk_part(name):
                    continue
                rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                if is_image_name(name):
                    rels.append(rel)
                else:
                    self.skipped_non_image += 1
        rels.sort()
        self._records = [
            SourceRecord(
                source_path=rel,
                labels=label_of(rel),
                _reader=file_reader(base / rel, rel, max_bytes, base),
            )
            for rel in rels
        ]


# ---------------------------------------------------------------------------------------
# records in memory


class RecordSource(Listed):
    """Records a program built itself, as a :class:`Source`.

    Nothing is listed from disk: the records are taken as given, in their order, and
    ``root`` only names where they came from (it appears in the ingest summary). Records
    are expected to have distinct ``source_path`` s, as every other reader guarantees.
    """

    def __init__(self, records: Iterable[SourceRecord], *, kind: str = "records", root: str = "<records>") -> None:
        super().__init__(root)
        self.kind = kind
        self._records = list(records)
