"""Europeana record identifiers and the URIs built from them.

A record is named ``/<dataset>/<local>`` by the Search/Record API, but
``http://data.europeana.eu/item/<dataset>/<local>`` as an annotation target and
``https://www.europeana.eu/item/<dataset>/<local>`` as a landing page. Jobs key their
provenance and idempotency maps by record id, so every spelling is normalised here to the
API's ``/<dataset>/<local>`` form before anything is stored or compared.
"""

from __future__ import annotations

import re

ITEM_URI_BASE = "http://data.europeana.eu/item"
LANDING_PAGE_BASE = "https://www.europeana.eu/item"

# dataset ids are digits in practice (sometimes with letters/underscores in test data);
# local ids are anything without whitespace, slashes, query or fragment characters.
_RECORD_ID = re.compile(r"^/(?P<dataset>[A-Za-z0-9_\-]+)/(?P<local>[^\s/?#]+)$")
_URI_FORMS = (
    re.compile(r"^https?://data\.europeana\.eu/item(?P<rest>/.*)$"),
    re.compile(r"^https?://(?:www\.)?europeana\.eu(?:/[a-z]{2})?/item(?P<rest>/[^?#]*)"),
    re.compile(r"^https?://api\.europeana\.eu/(?:api/v2/)?record(?:/v2)?(?P<rest>/[^?#]*?)(?:\.json)?(?:[?#].*)?$"),
)


def normalize_record_id(value: str) -> str:
    """Return ``/<dataset>/<local>`` for any spelling of a record id; ``ValueError`` if none.

    >>> normalize_record_id("http://data.europeana.eu/item/09102/_UEDIN_214")
    '/09102/_UEDIN_214'
    """
    text = (value or "").strip()
    for pattern in _URI_FORMS:
        match = pattern.match(text)
        if match:
            text = match.group("rest")
            break
    if text and not text.startswith("/"):
        text = "/" + text
    if not _RECORD_ID.match(text):
        raise ValueError(f"not a Europeana record id: {value!r} (expected /<dataset>/<local>)")
    return text


def is_record_id(value: str) -> bool:
    try:
        normalize_record_id(value)
    except ValueError:
        return False
    return True


def split_record_id(record_id: str) -> tuple[str, str]:
    """``/<dataset>/<local>`` → ``(dataset, local)``."""
    match = _RECORD_ID.match(normalize_record_id(record_id))
    assert match is not None
    return match.group("dataset"), match.group("local")


def item_uri(record_id: str) -> str:
    """The annotation target form: ``http://data.europeana.eu/item/<dataset>/<local>``."""
    return ITEM_URI_BASE + normalize_record_id(record_id)


def is_item_uri(uri: str) -> bool:
    """Exactly what the Annotations API accepts as a target for our tags (http, not https)."""
    if not uri.startswith(ITEM_URI_BASE + "/"):
        return False
    return bool(_RECORD_ID.match(uri[len(ITEM_URI_BASE) :]))


def landing_page(record_id: str) -> str:
    return LANDING_PAGE_BASE + normalize_record_id(record_id)
