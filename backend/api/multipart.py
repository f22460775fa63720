"""Multipart form bodies parsed by python-multipart, into what Werkzeug's parser would give.

A photo search is a multipart upload. Werkzeug's own parser runs a regular expression over
every 64 KB of the body and copies it twice on the way; a 1.6 MB photo took about 4.8 ms,
one tenth of a 12 MP search's server time. python-multipart (the parser Starlette and
FastAPI use) finds the boundaries with ``bytes.find`` and hands out slices of what it was
given: 0.45 ms for the same body. Flask still owns the request: this is Werkzeug's
:class:`~werkzeug.formparser.FormDataParser` with only the multipart step replaced, so
``request.form`` and ``request.files`` (``FileStorage`` in the request's own file streams)
and every limit behave as before:

* ``max_form_parts`` and ``max_form_memory_size`` (the text fields) answer 413, as Werkzeug;
* a body python-multipart does not parse to its closing boundary goes to Werkzeug's own,
  more lenient parser, so what Werkzeug accepted is still accepted, and a malformed or
  truncated body still parses as an empty form (the route says which field is missing);
* a part's headers are bounded by python-multipart (8 headers, 4 KB each).
"""

from __future__ import annotations

import io
import logging
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


class _Parts:
    """The callbacks that collect one body's parts (fields as text, files in streams)."""

    def __init__(self, parser: FastFormDataParser, boundary: bytes, content_length: int | None) -> None:
        self.parser = parser
        self.delimiter = b"--" + boundary
        #: a part's data began with the delimiter: it lacked its CRLF (see ``part_end``)
        self.lenient = False
        self._head = bytearray()
        self.content_length = content_length
        self.fields: list[tuple[str, str]] = []
        self.files: list[tuple[str, FileStorage]] = []
        self.parts = 0
        self.ended = False
        self._headers: list[tuple[str, str]] = []
        self._field = bytearray()
        self._value = bytearray()
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
        self._headers.append((self._field.decode("latin-1"), self._value.decode("latin-1")))
        self._field.clear()
        self._value.clear()

    def headers_finished(self) -> None:
        headers = Headers(self._headers)
        _, disposition = parse_options_header(headers.get("Content-Disposition"))
        self._name = disposition.get("name", "")
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
        if self._stream is not None:
            self._stream.write(data[start:end])
            return
        self._size += end - start
        limit = self.parser.max_form_memory_size
        if limit is not None and self._size > limit:
            raise RequestEntityTooLarge()
        self._chunks.append(data[start:end])

    def part_end(self) -> None:
        # An empty part directly followed by the next delimiter, without the CRLF that RFC
        # 2046 puts before every delimiter (Werkzeug's own encoder writes empty files so):
        # python-multipart reads the delimiter as data, Werkzeug as the part's end.
        if self._head.startswith(self.delimiter):
            self.lenient = True
        headers = Headers(self._headers)
        if self._stream is not None:
            self._stream.seek(0)
            self.files.append((self._name, FileStorage(self._stream, self._filename, self._name, headers=headers)))
            return
        _, ctype = parse_options_header(headers.get("Content-Type"))
        charset = ctype.get("charset", "utf-8")
        try:
            value = b"".join(self._chunks).decode(charset, "replace")
        except LookupError:  # an unknown charset: as Werkzeug, read it as UTF-8
            value = b"".join(self._chunks).decode("utf-8", "replace")
        self.fields.append((self._name, value))

    def end(self) -> None:
        self.ended = True


class FastFormDataParser(FormDataParser):
    """Werkzeug's form parser, with python-multipart for ``multipart/form-data`` (see the module)."""

    def _parse_multipart(
        self, stream: IO[bytes], mimetype: str, content_length: int | None, options: dict[str, str]
    ) -> tuple[IO[bytes], Any, Any]:
        boundary = options.get("boundary", "").encode("ascii")  # UnicodeEncodeError is a ValueError
        if not boundary:
            raise ValueError("Missing boundary")
        parts = _Parts(self, boundary, content_length)
        parser = MultipartParser(boundary, parts.callbacks())
        read: list[bytes] = []
        try:
            while chunk := stream.read(READ_BYTES):
                read.append(chunk)
                parser.write(chunk)
            parser.finalize()
            if parts.ended and not parts.lenient:
                return stream, self.cls(parts.fields), self.cls(parts.files)
        except ValueError:
            pass
        # Not strict RFC 7578 (see ``_Parts.part_end``), truncated or not multipart at all:
        # Werkzeug's lenient parser decides, as it did before.
        for _, f in parts.files:
            f.close()
        return super()._parse_multipart(io.BytesIO(b"".join(read)), mimetype, content_length, options)
