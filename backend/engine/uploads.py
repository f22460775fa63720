"""Where HTTP uploads are kept in a collection: every upload's ``source_path`` is under ``uploads/``.

An upload must never claim a path a curator's SOURCE has: ingest would then skip the
curator's file as already done and keep the uploader's picture under that path. Keeping
uploads in their own folder (and ingest moving aside an upload that still holds a SOURCE's
path, ``Catalog.displace_uploads``) closes that.
"""

from __future__ import annotations

import os
import re
import uuid

from .catalog.store import UPLOADS_PREFIX

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class BadSourcePath(ValueError):
    """An upload's requested ``source_path`` cannot name a file (``..``, control characters)."""


def upload_path(requested: str | None, filename: str = "upload.jpg") -> str:
    """The ``source_path`` of an HTTP upload: always under ``uploads/``.

    A client-chosen path is kept as a name inside ``uploads/`` (``a/b.jpg`` → ``uploads/a/b.jpg``;
    one already under ``uploads/`` stays as it is); ``..``, absolute and control-character paths
    are refused (:class:`BadSourcePath`). Without one, each upload gets its own name: phones call every
    photo alike (``image.jpg``), and a second photo must not be refused as a clash.
    """
    if not requested or not requested.strip():
        return (
            f"{UPLOADS_PREFIX}{uuid.uuid4().hex[:12]}-{_SAFE_NAME.sub('_', os.path.basename(filename)) or 'upload.jpg'}"
        )
    text = requested.strip().replace("\\", "/")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise BadSourcePath("source_path may not contain control characters")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise BadSourcePath(f"source_path {requested!r} must name a file (no '..')")
    path = "/".join(parts)
    return path if path.startswith(UPLOADS_PREFIX) else UPLOADS_PREFIX + path
