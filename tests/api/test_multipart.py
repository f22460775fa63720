"""Multipart bodies parse as Werkzeug parsed them, from real clients' encodings and bad ones.

``backend.api.multipart`` swaps Werkzeug's multipart parser for python-multipart's (ten
times faster on a photo). The reference is Werkzeug's own parser, run on the same bodies:
as encoded by ``requests`` (what the Python SDK and most scripts send), by Werkzeug's test
client (which writes an empty file without the CRLF before the next delimiter), truncated,
not multipart at all, and what real clients put in part headers (UTF-8 filenames, charsets,
stray spaces). The limits answer 413 as before.
"""

from __future__ import annotations

import io
import os

import pytest
import requests
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser
from werkzeug.test import encode_multipart

from backend.api.multipart import FastFormDataParser


def _parsed(parser_class: type[FormDataParser], body: bytes, boundary: str, **limits: int) -> tuple[list, list]:
    """(fields, files) as a route would see them; Werkzeug's 500 KB form-memory limit on."""
    limits.setdefault("max_form_memory_size", 500 * 1024)
    _, form, files = parser_class(**limits).parse(
        io.BytesIO(body), "multipart/form-data", len(body), {"boundary": boundary}
    )
    return (
        sorted(form.items(multi=True)),
        sorted((k, f.filename, f.content_type, f.read()) for k, f in files.items(multi=True)),
    )


def _by_requests(image: bytes, options: str = '{"top_k": 3, "labels": ["é"]}') -> tuple[bytes, str]:
    req = requests.Request(
        "POST", "http://127.0.0.1/", files={"image": ("snap.jpg", image, "image/jpeg")}, data={"options": options}
    ).prepare()
    assert isinstance(req.body, bytes)
    return req.body, req.headers["Content-Type"].split("boundary=")[1]


def _by_werkzeug(image: bytes) -> tuple[bytes, str]:
    boundary, body = encode_multipart(
        {"image": FileStorage(io.BytesIO(image), "snap.jpg", content_type="image/jpeg"), "options": '{"top_k": 3}'}
    )
    return body, boundary


PHOTO = os.urandom(300_000)
BIG = os.urandom(600_000)  # past Werkzeug's 500 KB form-memory limit if counted as a field


def _raw(*parts: tuple[str | bytes, bytes], boundary: str = "b0undary") -> tuple[bytes, str]:
    """A body from raw part headers (text is sent as UTF-8) and data, RFC 7578 framing."""
    body = b"".join(
        f"--{boundary}\r\n".encode()
        + (head if isinstance(head, bytes) else head.encode())
        + b"\r\n\r\n"
        + data
        + b"\r\n"
        for head, data in parts
    )
    return body + f"--{boundary}--\r\n".encode(), boundary


def _werkzeug_fields(fields: dict) -> tuple[bytes, str]:
    boundary, body = encode_multipart(fields)
    return body, boundary


_REQUESTS = _by_requests(PHOTO)


@pytest.mark.parametrize(
    "body_and_boundary",
    [
        pytest.param(_by_requests(PHOTO), id="requests"),
        pytest.param(_by_requests(b""), id="requests, empty file"),
        pytest.param(_by_werkzeug(PHOTO), id="werkzeug"),
        pytest.param(_by_werkzeug(b""), id="werkzeug, empty file before another part"),
        pytest.param(_by_requests(b"--not-the-boundary\r\n" * 50), id="delimiter-like bytes in the file"),
        pytest.param((_REQUESTS[0][:150_000], _REQUESTS[1]), id="truncated"),
        pytest.param((os.urandom(4000), "abc"), id="not multipart"),
        pytest.param(
            _raw(('Content-Disposition: form-data; name="image"; filename="Ölbild – café.jpg"', PHOTO)),
            id="UTF-8 filename, as browsers and curl send it",
        ),
        pytest.param(
            _raw((b'Content-Disposition: form-data; name="image"; filename="caf\xe9.jpg"', PHOTO)),
            id="latin-1 filename",
        ),
        pytest.param(
            _raw(
                (
                    'Content-Disposition: form-data; name="t"\r\nContent-Type: text/plain; charset=utf-16',
                    "hi".encode("utf-16"),
                ),
                (
                    'Content-Disposition: form-data; name="u"\r\nContent-Type: text/plain; charset=ISO-8859-1',
                    "é".encode("latin-1"),
                ),
            ),
            id="field charsets",
        ),
        pytest.param(
            _werkzeug_fields(
                {"title": "", "image": FileStorage(io.BytesIO(BIG), "big.jpg", content_type="image/jpeg")}
            ),
            id="werkzeug, empty field before a large file",
        ),
        pytest.param(_raw(("Content-Disposition: form-data", b"no name")), id="part without a name"),
        pytest.param(_raw(("Content-Type: text/plain", b"no disposition")), id="part without Content-Disposition"),
        pytest.param(
            _raw(
                ('Content-Disposition: form-data; name="image"; filename="a.jpg"\r\nContent-Type: image/jpeg  ', PHOTO)
            ),
            id="trailing spaces in a header",
        ),
        pytest.param(
            _raw(('Content-Disposition: form-data; name="x"', b"v"), boundary="b" * 300), id="300-byte boundary"
        ),
        pytest.param(
            _raw(
                ('Content-Disposition: form-data; name="same"', b"1"),
                ('Content-Disposition: form-data; name="same"', b"2"),
            ),
            id="a repeated field",
        ),
    ],
)
def test_forms_and_files_are_those_werkzeug_parses(body_and_boundary: tuple[bytes, str]) -> None:
    body, boundary = body_and_boundary
    assert _parsed(FastFormDataParser, body, boundary) == _parsed(FormDataParser, body, boundary)


def test_a_requests_upload_keeps_its_bytes_names_and_types() -> None:
    body, boundary = _REQUESTS
    form, files = _parsed(FastFormDataParser, body, boundary)
    assert form == [("options", '{"top_k": 3, "labels": ["é"]}')]
    assert files == [("image", "snap.jpg", "image/jpeg", PHOTO)]


def test_too_many_parts_and_too_large_fields_answer_413_as_before() -> None:
    body, boundary = _REQUESTS
    for parser in (FormDataParser, FastFormDataParser):
        with pytest.raises(RequestEntityTooLarge):
            _parsed(parser, body, boundary, max_form_parts=1)
    body, boundary = _by_requests(b"x", options="o" * 5000)
    for parser in (FormDataParser, FastFormDataParser):
        with pytest.raises(RequestEntityTooLarge):
            _parsed(parser, body, boundary, max_form_memory_size=1000)
