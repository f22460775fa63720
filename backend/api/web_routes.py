"""The web page at ``/``: a static, framework-free page that calls the JSON API."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, send_from_directory
from flask.typing import ResponseReturnValue

from .openapi import answers, api, requires

STATIC_DIR = Path(__file__).resolve().parent / "static"

bp = Blueprint("web", __name__)


@bp.get("/")
@requires(None)
@api.validate(resp=answers({200: None}, text={200: "The search page (text/html)"}))
def index() -> ResponseReturnValue:
    """The search web page"""
    return send_from_directory(STATIC_DIR, "index.html", max_age=0)


@bp.get("/static/<path:filename>")
@requires(None)
@api.validate(resp=answers({200: None}, 404, text={200: "A script, style sheet or icon of the page"}))
def static_file(filename: str) -> ResponseReturnValue:
    """The web page's scripts, styles and icons"""
    # Short cache: the page and its scripts must not disagree for long after an upgrade.
    return send_from_directory(STATIC_DIR, filename, max_age=300)
