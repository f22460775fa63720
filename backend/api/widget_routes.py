"""The heritage widget's script: ``<script src="https://server/widget/artsnap-related.js">``.

One file, no framework, no build step (``backend/api/widget/artsnap-related.js``): it defines
the ``<artsnap-related>`` custom element, which calls ``/v1/collections/{name}/related``. It
is public code, served to any page; what it may fetch is decided by the key it carries.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, send_from_directory
from flask.typing import ResponseReturnValue

from .openapi import answers, api, requires

WIDGET_DIR = Path(__file__).resolve().parent / "widget"
WIDGET_FILE = "artsnap-related.js"

bp = Blueprint("widget", __name__)


@bp.get(f"/widget/{WIDGET_FILE}")
@requires(None)
@api.validate(resp=answers({200: None}, text={200: "The widget's script (text/javascript)"}))
def widget_script() -> ResponseReturnValue:
    """The <artsnap-related> widget for portals"""
    resp = send_from_directory(WIDGET_DIR, WIDGET_FILE, mimetype="text/javascript", max_age=300)
    # Loadable from any page, also as a module or with crossorigin="anonymous".
    resp.headers["Access-Control-Allow-Origin"] = "*"
    resp.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return resp
