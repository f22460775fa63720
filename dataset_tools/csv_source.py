"""A CSV/TSV manifest as a SOURCE: a ``path`` column, optional labels, titles and extras."""

from __future__ import annotations

import csv
import io
import posixpath
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path, PureWindowsPath

from .source_records import (
    DEFAULT_MAX_BYTES,
    Listed,
    SourceError,
    SourceReadError,
    SourceRecord,
    file_reader,
    is_image_name,
)

# Several labels in one manifest cell: "portrait;baroque" or "portrait|baroque".
_LABEL_SEPARATORS = (";", "|")


class CsvSource(Listed):
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
    return file_reader(base / source_path, source_path, max_bytes, base)


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
