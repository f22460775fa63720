"""The web page at ``/``: a static, framework-free page that calls the JSON API."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, send_from_directory
from flask.typing import ResponseReturnValue

STATIC_DIR = Path(__file__).resolve().parent / "static"

bp = Blueprint("web", __name__)


@bp.get("/")
def index() -> ResponseReturnValue:
    return send_from_directory(STATIC_DIR, "index.html", max_age=0)


@bp.get("/static/<path:filename>")
def static_file(filename: str) -> ResponseReturnValue:
    # Short cache: the page and its scripts must not disagree for long after an upgrade.
    return send_from_directory(STATIC_DIR, filename, max_age=300)
