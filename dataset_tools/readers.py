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

import csv
import io
import os
import posixpath
import threading
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path, PureWindowsPath
from typing import Protocol, Self, runtime_checkable

from .images import DecodedImage

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

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})

#: Largest single image we agree to read into memory.  A 12-megapixel phone JPEG is ~5 MB
#: and a museum TIFF-to-PNG master rarely passes 60 MB; anything bigger is far more likely a
#: zip bomb or a mislabelled video than an artwork.
DEFAULT_MAX_BYTES = 100 * 1024 * 1024

# Files that operating systems and archivers leave behind.  They are ignored silently
# (not counted as skipped), because no curator meant them as content.
_JUNK_NAMES = frozenset({"thumbs.db", "desktop.ini", ".ds_store"})
_JUNK_DIRS = frozenset({"__macosx"})

# Several labels in one manifest cell: "portrait;baroque" or "portrait|baroque".
_LABEL_SEPARATORS = (";", "|")


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
# shared helpers (private: each reader's policy is the same, so it is written once)


def is_image_name(name: str) -> bool:
    """Whether a file name has one of :data:`IMAGE_SUFFIXES` (any case): ``A.JPG`` counts."""
    return posixpath.splitext(name)[1].lower() in IMAGE_SUFFIXES


def _is_junk_part(part: str) -> bool:
    """Hidden files/folders (``.git``, ``._IMG.jpg`` from macOS) and OS litter."""
    low = part.lower()
    return part.startswith(".") or low in _JUNK_NAMES or low in _JUNK_DIRS


def _label_of(rel_posix: str) -> tuple[str, ...]:
    parts = rel_posix.split("/")
    return (parts[0],) if len(parts) > 1 else ()


def _inside(path: Path, root: Path, source_path: str) -> Path:
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


def _read_file(path: Path, source_path: str, max_bytes: int, root: Path) -> bytes:
    try:
        path = _inside(path, root, source_path)
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


class _Listed:
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


# ---------------------------------------------------------------------------------------
# folder


class FolderSource(_Listed):
    """``SOURCE/<label>/.../image.jpg``.  Symlinked folders are not followed, so a link to
    ``/`` inside a collection cannot make ingest walk the whole disk; a symlinked *file* is
    read only if it ends inside the folder."""

    kind = "folder"

    def __init__(self, folder: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        super().__init__(str(folder.resolve()))
        base = Path(self.root)
        rels: list[str] = []
        for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
            dirnames[:] = [d for d in dirnames if not _is_junk_part(d)]
            rel_dir = Path(dirpath).relative_to(base).as_posix()
            for name in filenames:
                if _is_junk_part(name):
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
                labels=_label_of(rel),
                _reader=_file_reader(base / rel, rel, max_bytes, base),
            )
            for rel in rels
        ]


def _file_reader(path: Path, source_path: str, max_bytes: int, root: Path) -> Callable[[], bytes]:
    return lambda: _read_file(path, source_path, max_bytes, root)


# ---------------------------------------------------------------------------------------
# zip


class ZipSource(_Listed):
    """A zip archive, read in place.

    Member names are only ever used as catalogue paths, never as file-system paths, so
    zip-slip cannot happen; names that climb out (``../x.jpg``) are ignored all the same,
    because they make no sense as a ``source_path``.

    *Wrapper folder.* Zipping a folder ``paintings/`` with Finder or ``zip -r`` yields
    ``paintings/impressionism/a.jpg``; taken literally every image would be labelled
    "paintings".  When every image sits under one common top folder and that folder has
    sub-folders with images, it is a collection root, not a label: it is stripped (and kept
    in :attr:`prefix`), so the zip gives the same records as the folder it was made from.
    A zip of just ``impressionism/*.jpg`` is left alone: there the top folder *is* the
    label.  (A single-label zip that also nests sub-folders is read as a wrapper — the same
    records that ingesting the unzipped folder gives.)

    *Threads.* Each thread reading records gets its own :class:`zipfile.ZipFile`, so reads
    from a pool never share a file position; :meth:`close` closes them all.
    """

    kind = "zip"

    def __init__(self, archive: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        super().__init__(str(archive.resolve()))
        self.max_bytes = max_bytes
        self.prefix = ""
        self._local = threading.local()
        self._handles: list[zipfile.ZipFile] = []
        self._lock = threading.Lock()
        self._closed = False
        try:
            zf = zipfile.ZipFile(self.root)
        except (zipfile.BadZipFile, OSError) as exc:
            raise SourceError(f"{archive}: not a readable zip archive ({exc})") from exc
        self._local.zf = zf
        self._handles.append(zf)

        members: dict[str, zipfile.ZipInfo] = {}
        for info in zf.infolist():
            if info.is_dir():
                continue
            name = _clean_member_name(info.filename)
            if name is None or any(_is_junk_part(p) for p in name.split("/")):
                continue
            if is_image_name(name):
                members[name] = info  # a repeated name: the last one wins, as on extraction
            else:
                self.skipped_non_image += 1

        self.prefix = _wrapper_prefix(members)
        cut = len(self.prefix)
        self._records = [
            SourceRecord(
                source_path=name[cut:],
                labels=_label_of(name[cut:]),
                _reader=self._member_reader(members[name], name[cut:]),
            )
            for name in sorted(members)
        ]

    def _member_reader(self, info: zipfile.ZipInfo, source_path: str) -> Callable[[], bytes]:
        return lambda: self._read_member(info, source_path)

    def _zipfile(self) -> zipfile.ZipFile:
        zf = getattr(self._local, "zf", None)
        if zf is None:
            with self._lock:
                if self._closed:
                    raise SourceReadError(self.root, "zip source is closed")
                zf = zipfile.ZipFile(self.root)
                self._handles.append(zf)
            self._local.zf = zf
        return zf

    def _read_member(self, info: zipfile.ZipInfo, source_path: str) -> bytes:
        if info.file_size > self.max_bytes:
            raise SourceReadError(
                source_path,
                f"member is {info.file_size} bytes uncompressed, larger than the {self.max_bytes}-byte limit",
            )
        try:
            with self._zipfile().open(info) as fh:
                # Never trust the header alone: read at most one byte past the limit.
                data = fh.read(self.max_bytes + 1)
        except SourceReadError:
            raise
        except (
            zipfile.BadZipFile,
            RuntimeError,
            NotImplementedError,
            ValueError,
            OSError,
            EOFError,
        ) as exc:
            # BadZipFile: CRC mismatch / truncated; RuntimeError: encrypted; NotImplemented:
            # exotic compression (deflate64); ValueError: handle closed.
            raise SourceReadError(source_path, f"cannot read zip member: {exc}") from exc
        if len(data) > self.max_bytes:
            raise SourceReadError(source_path, f"member is larger than the {self.max_bytes}-byte limit")
        return data

    def close(self) -> None:
        with self._lock:
            self._closed = True
            handles, self._handles = self._handles, []
        for zf in handles:
            zf.close()


def _clean_member_name(name: str) -> str | None:
    """POSIX, relative, no ``.`` parts; ``None`` for names that climb out of the archive."""
    name = name.replace("\\", "/").lstrip("/")
    if not name:
        return None
    norm = posixpath.normpath(name)
    if norm == ".." or norm.startswith("../"):
        return None
    return norm


def _wrapper_prefix(members: dict[str, zipfile.ZipInfo]) -> str:
    tops = {name.split("/", 1)[0] for name in members}
    if len(tops) != 1 or not any(name.count("/") >= 2 for name in members):
        return ""
    return next(iter(tops)) + "/"


# ---------------------------------------------------------------------------------------
# CSV manifest


class CsvSource(_Listed):
    """A manifest: ``path`` (required), ``label`` (several separated by ``;`` or ``|``),
    ``title``, and any other columns, which land in :attr:`SourceRecord.extra`.

    Paths are relative to the manifest's own folder, so a manifest travels with its images;
    absolute paths and paths that climb out of that folder (``../``, or a link) are refused
    per record (``outside_source``), so a manifest cannot make ingest read other files.  The header is matched case-insensitively; the delimiter is a comma,
    or tab / semicolon when the header uses those (European spreadsheet exports).  A path
    listed twice is one record whose labels are the union (a "one row per label" manifest).
    Records keep the manifest's order.  Whether a listed file exists is only checked on
    :meth:`SourceRecord.read`, so a stale manifest costs one error line per missing file.
    """

    kind = "csv"

    def __init__(self, manifest: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        super().__init__(str(manifest.resolve()))
        self.manifest = self.root
        base = Path(self.root).parent
        try:
            text = Path(self.root).read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SourceError(f"{manifest}: manifest is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
        except OSError as exc:
            raise SourceError(f"{manifest}: cannot read manifest ({exc})") from exc

        first_line = text.split("\n", 1)[0]
        delimiter = "," if "," in first_line else "\t" if "\t" in first_line else ";" if ";" in first_line else ","
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise SourceError(f"{manifest}: manifest is empty; expected a header row with a 'path' column")
        columns = [h.strip() for h in header]
        lower = [c.lower() for c in columns]
        if "path" not in lower:
            raise SourceError(f"{manifest}: manifest header has no 'path' column (found: {', '.join(columns)})")
        path_i = lower.index("path")
        label_i = next((lower.index(n) for n in ("label", "labels") if n in lower), None)
        title_i = lower.index("title") if "title" in lower else None
        extra_i = [i for i in range(len(columns)) if i not in (path_i, label_i, title_i) and columns[i]]

        by_path: dict[str, SourceRecord] = {}
        for row in reader:
            raw_path = _cell(row, path_i)
            if not raw_path:
                continue
            source_path = raw_path.replace("\\", "/")
            if not is_image_name(source_path):
                self.skipped_non_image += 1
                continue
            labels = _split_labels(_cell(row, label_i))
            if source_path in by_path:
                old = by_path[source_path]
                merged = tuple(dict.fromkeys(old.labels + labels))
                by_path[source_path] = replace(old, labels=merged)
                continue
            by_path[source_path] = SourceRecord(
                source_path=source_path,
                labels=labels,
                title=_cell(row, title_i) or None,
                extra={columns[i]: _cell(row, i) for i in extra_i if _cell(row, i)},
                _reader=_manifest_reader(base, source_path, max_bytes),
            )
        self._records = list(by_path.values())


def _manifest_reader(base: Path, source_path: str, max_bytes: int) -> Callable[[], bytes]:
    if posixpath.isabs(source_path) or PureWindowsPath(source_path).drive:
        return _refuse(source_path, "is an absolute path; manifest paths are relative to the manifest's folder")
    return _file_reader(base / source_path, source_path, max_bytes, base)


def _refuse(source_path: str, reason: str) -> Callable[[], bytes]:
    def read() -> bytes:
        raise SourceReadError(source_path, reason, code="outside_source")

    return read


def _cell(row: list[str], i: int | None) -> str:
    """A stripped cell; short rows (fewer cells than the header) read as empty."""
    return row[i].strip() if i is not None and i < len(row) else ""


def _split_labels(cell: str) -> tuple[str, ...]:
    for sep in _LABEL_SEPARATORS[1:]:
        cell = cell.replace(sep, _LABEL_SEPARATORS[0])
    return tuple(dict.fromkeys(p.strip() for p in cell.split(_LABEL_SEPARATORS[0]) if p.strip()))


# ---------------------------------------------------------------------------------------
# records in memory


class RecordSource(_Listed):
    """Records a program built itself, as a :class:`Source`.

    Nothing is listed from disk: the records are taken as given, in their order, and
    ``root`` only names where they came from (it appears in the ingest summary). Records
    are expected to have distinct ``source_path`` s, as every other reader guarantees.
    """

    def __init__(self, records: Iterable[SourceRecord], *, kind: str = "records", root: str = "<records>") -> None:
        super().__init__(root)
        self.kind = kind
        self._records = list(records)
