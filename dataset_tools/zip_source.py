"""A zip archive as a SOURCE, read member by member in place (never extracted)."""

from __future__ import annotations

import posixpath
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path

from .source_records import (
    DEFAULT_MAX_BYTES,
    Listed,
    SourceError,
    SourceReadError,
    SourceRecord,
    is_image_name,
    is_junk_part,
    label_of,
)


class ZipSource(Listed):
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
            if name is None or any(is_junk_part(p) for p in name.split("/")):
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
                labels=label_of(name[cut:]),
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
