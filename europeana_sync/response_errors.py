"""Turning an error response into the typed exception and message a curator reads.

The three services word their errors differently (``message``, ``error``,
``error_description``, WITH's nested ``{"error": {"email": ...}}``); this module knows them
all, and keeps API keys out of every message and log line it builds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import requests

from .errors import ApiError, AuthenticationError, BadRequest, Forbidden, Gone, NotFound


def error_message(response: requests.Response) -> str:
    """The service's own words: ``message`` (Europeana API commons), ``error`` (older
    Europeana responses, WITH, OAuth ``error_description``), else the start of the body."""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, Mapping):
        for key in ("message", "error_description", "error", "errorMessage"):
            value = payload.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
            # WITH's UserManager answers {"error": {"email": "Need Email or Username"}}
            if isinstance(value, Mapping) and value:
                return "; ".join(f"{field}: {text}" for field, text in value.items() if isinstance(text, str))
    text = (response.text or "").strip()
    return text[:500] if text else (response.reason or "error")


def error_for_response(response: requests.Response) -> ApiError:
    """Map a non-retried error response to its typed exception."""
    status = response.status_code
    kind: type[ApiError]
    if status == 400:
        kind = BadRequest
    elif status == 401:
        kind = AuthenticationError
    elif status == 403:
        kind = Forbidden
    elif status == 404:
        kind = NotFound
    elif status == 410:
        kind = Gone
    else:
        kind = ApiError
    return kind(status, error_message(response), url=redact(response.url), body=response.text[:2000])


_SECRET_PARAMS = re.compile(r"([?&](?:wskey|api_key|apikey|client_secret|password)=)[^&]*", re.I)


def redact(url: str | None) -> str:
    """Keys must not end up in logs or exception messages that curators paste into tickets."""
    return _SECRET_PARAMS.sub(r"\1***", url or "")


def snippet(text: str | None, limit: int = 120) -> str:
    """The start of a body on one line, for messages a curator reads."""
    return " ".join((text or "").split())[:limit]
