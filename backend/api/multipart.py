"""Multipart form bodies parsed by python-multipart, into what Werkzeug's parser would give.

A photo search is a multipart upload. Werkzeug's own parser runs a regular expression over
every 64 KB of the body and copies it on the way: a 1.6 MB photo upload took 4.1 ms through
its form parser, a tenth of a 12 MP search's server time. python-multipart (the parser
Starlette and FastAPI use) finds the boundaries with ``bytes.find`` and hands out slices of
what it was given: 1.1 ms for the same upload. Flask still owns the request: this is
Werkzeug's :class:`~werkzeug.formparser.FormDataParser` with only the multipart step
replaced, so ``request.form`` and ``request.files`` (``FileStorage`` in the request's own
file streams) and every limit behave as before:

* ``max_form_parts`` and ``max_form_memory_size`` (the text fields) answer 413, as Werkzeug;
* part headers are read as Werkzeug reads them (UTF-8, names and values stripped), and a
  field's charset is one Werkzeug accepts or else UTF-8;
* a body python-multipart does not parse to its closing boundary, and one Werkzeug would
  read differently (a part without a name, headers that are not UTF-8, an empty part with no
  CRLF before the next delimiter, as Werkzeug's own encoder writes it), goes to Werkzeug's
  parser: what Werkzeug accepted is still accepted, and a malformed or truncated body still
  parses as an empty form (the route says which field is missing).
"""

from __future__ import annotations

import io
import logging
import tempfile
from typing import IO, TYPE_CHECKING, Any

from python_multipart.multipart import MultipartParser
from werkzeug.datastructures import FileStorage, Headers
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser
from werkzeug.http import parse_options_header

# It logs every malformed body at WARNING before raising; the client gets its 4xx instead.
logging.getLogger("python_multipart.multipart").setLevel(logging.ERROR)

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

#: Bytes read from the (already buffered) body per call into the parser.
READ_BYTES = 1024 * 1024

#: Bytes of a body kept in memory for Werkzeug to parse again if need be; past this, the
#: copy goes to a temp file (a 40 MB TIFF must not hold 40 MB more while it is parsed).
REPLAY_IN_MEMORY = 8 * 1024 * 1024

#: The part charsets Werkzeug decodes fields with; any other is read as UTF-8, as it does.
_CHARSETS = frozenset({"ascii", "us-ascii", "utf-8", "iso-8859-1"})


class _NotStrict(ValueError):
    """A body Werkzeug's parser should read (see the module docstring)."""


class _Replay:
    """What was read of the body, to hand to Werkzeug's parser when python-multipart gives up."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.file: IO[bytes] | None = None

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.file is None and self.size > REPLAY_IN_MEMORY:
            self.file = tempfile.TemporaryFile()
            for c in self.chunks:
                self.file.write(c)
            self.chunks = []
        if self.file is not None:
            self.file.write(chunk)
        else:
            self.chunks.append(chunk)

    def stream(self) -> IO[bytes]:
        if self.file is None:
            return io.BytesIO(b"".join(self.chunks))
        self.file.seek(0)
        return self.file


class _Parts:
    """The callbacks that collect one body's parts (fields as text, files in streams)."""

    def __init__(self, parser: FastFormDataParser, boundary: bytes, content_length: int | None) -> None:
        self.parser = parser
        self.delimiter = b"--" + boundary
        self.content_length = content_length
        self.fields: list[tuple[str, str]] = []
        self.files: list[tuple[str, FileStorage]] = []
        self.parts = 0
        self.ended = False
        self._headers: list[tuple[str, str]] = []
        self._part_headers = Headers()  # the current part's, once they are all read
        self._field = bytearray()
        self._value = bytearray()
        self._head = bytearray()  # a part's first bytes, up to the delimiter's length
        self._chunks: list[bytes] = []
        self._size = 0
        self._stream: IO[bytes] | None = None
        self._name = ""
        self._filename: str | None = None

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self.part_begin,
            "on_header_field": lambda data, start, end: self._field.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._value.extend(data[start:end]),
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": self.part_data,
            "on_part_end": self.part_end,
            "on_end": self.end,
        }

    def part_begin(self) -> None:
        self.parts += 1
        limit = self.parser.max_form_parts
        if limit is not None and self.parts > limit:
            raise RequestEntityTooLarge()
        self._headers = []
        self._chunks = []
        self._size = 0
        self._stream = None
        self._head.clear()

    def header_end(self) -> None:
        try:  # as Werkzeug: UTF-8, or the body is not one it would parse
            name, value = self._field.decode(), self._value.decode()
        except UnicodeDecodeError as exc:
            raise _NotStrict("a part header is not UTF-8") from exc
        self._headers.append((name.strip(" \t"), value.strip(" \t")))
        self._field.clear()
        self._value.clear()

    def headers_finished(self) -> None:
        headers = self._part_headers = Headers(self._headers)
        if "Content-Disposition" not in headers:
            raise _NotStrict("a part without Content-Disposition")
        _, disposition = parse_options_header(headers["Content-Disposition"])
        if "name" not in disposition:
            raise _NotStrict("a part without a name")
        self._name = disposition["name"]
        self._filename = disposition.get("filename")
        if self._filename is not None:  # a file, as Werkzeug tells them apart
            self._stream = self.parser.stream_factory(
                total_content_length=self.content_length,
                content_type=headers.get("Content-Type"),
                filename=self._filename,
                content_length=0,
            )

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if len(self._head) < len(self.delimiter):
            self._head.extend(data[start : min(end, start + len(self.delimiter) - len(self._head))])
            # An empty part directly followed by the next delimiter, without the CRLF that
            # RFC 2046 puts before every delimiter: python-multipart reads on into the next
            # part, Werkzeug ends the part there. Checked before any limit, which the next
            # part's bytes counted as this one's could trip.
            if self._head == self.delimiter:
                raise _NotStrict("an empty part without the CRLF before the next delimiter")
        if self._stream is not None:
            self._stream.write(data[start:end])
            return
        self._size += end - start
        limit = self.parser.max_form_memory_size
        if limit is not None and self._size > limit:
            raise RequestEntityTooLarge()
        self._chunks.append(data[start:end])

    def part_end(self) -> None:
        headers = self._part_headers
        if self._stream is not None:
            self._stream.seek(0)
            self.files.append((self._name, FileStorage(self._stream, self._filename, self._name, headers=headers)))
            return
        _, ctype = parse_options_header(headers.get("Content-Type"))
        charset = ctype.get("charset", "").lower()
        value = b"".join(self._chunks).decode(charset if charset in _CHARSETS else "utf-8", "replace")
        self.fields.append((self._name, value))

    def end(self) -> None:
        self.ended = True

    def close_files(self) -> None:
        for _, f in self.files:
            f.close()
        if self._stream is not None:
            self._stream.close()


class FastFormDataParser(FormDataParser):
    """Werkzeug's form parser, with python-multipart for ``multipart/form-data`` (see the module)."""

    def _parse_multipart(
        self, stream: IO[bytes], mimetype: str, content_length: int | None, options: dict[str, str]
    ) -> tuple[IO[bytes], Any, Any]:
        boundary = options.get("boundary", "").encode("ascii")  # UnicodeEncodeError is a ValueError
        if not boundary:
            raise ValueError("Missing boundary")
        parts = _Parts(self, boundary, content_length)
        replay = _Replay()
        try:
            parser = MultipartParser(boundary, parts.callbacks())  # refuses boundaries over 256 bytes
            while chunk := stream.read(READ_BYTES):
                replay.add(chunk)
                parser.write(chunk)
            parser.finalize()
            if parts.ended:
                return stream, self.cls(parts.fields), self.cls(parts.files)
        except ValueError:  # python-multipart's errors and ours (_NotStrict)
            while chunk := stream.read(READ_BYTES):  # the rest, for Werkzeug
                replay.add(chunk)
        parts.close_files()
        return super()._parse_multipart(replay.stream(), mimetype, content_length, options)
