"""What a portal shows next to a work and how it names it: rights, provider, landing page, record id.

Ingest keeps a record's provenance in the item's ``extra`` JSON. Two spellings reach it:

* the Europeana pull writes the ``europeana_*`` keys below (``backend/sync/provenance.py``
  re-exports them, so the pull and this module cannot drift apart);
* a CSV manifest's extra columns land in ``extra`` under their own names, so a curator who
  ingests by hand names them ``record_id``, ``rights``, ``provider``, ``data_provider`` and
  ``landing_page``.

A portal knows its works by its own ids, never ours. :func:`record_id_for` gives the id an
item is looked up by (kept in the indexed ``items.record_id`` column): ``europeana:<id>`` for
a Europeana record (in the API's ``/<dataset>/<local>`` form), or a manifest's ``record_id``
as written. :func:`normalize_record_ref` turns what a portal sends into the same form.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from europeana_sync.record_ids import LANDING_PAGE_BASE, normalize_record_id
from europeana_sync.rights import licence_code

#: The ``extra`` keys the Europeana pull writes.
EUROPEANA_RECORD_ID = "europeana_record_id"
EUROPEANA_DATA_PROVIDER = "europeana_data_provider"
EUROPEANA_PROVIDER = "europeana_provider"
EUROPEANA_RIGHTS = "europeana_rights"
EUROPEANA_LANDING_PAGE = "europeana_landing_page"

#: The manifest columns (``extra`` keys) a curator uses for the same things.
RECORD_ID = "record_id"
RIGHTS = "rights"
PROVIDER = "provider"
DATA_PROVIDER = "data_provider"
LANDING_PAGE = "landing_page"

#: The scheme of a Europeana record reference: ``europeana:/2048128/618580``.
EUROPEANA_SCHEME = "europeana"

#: Longest record reference stored or looked up (the ``items.record_id`` column).
MAX_RECORD_ID = 512


def _text(extra: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = extra.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def record_id_for(extra: Mapping[str, Any] | None) -> str | None:
    """The portal record id an item is found by, from its ingest provenance (``None``: none kept)."""
    extra = extra or {}
    europeana = _text(extra, EUROPEANA_RECORD_ID)
    if europeana:
        try:
            return f"{EUROPEANA_SCHEME}:{normalize_record_id(europeana)}"
        except ValueError:
            pass
    own = _text(extra, RECORD_ID)
    return own[:MAX_RECORD_ID] if own else None


def normalize_record_ref(ref: str) -> str:
    """What a portal sends (``europeana:/1/a``, a Europeana item URI, or its own id) → the stored form.

    A Europeana reference in any spelling (``europeana:`` plus an id or URI, or a bare
    ``data.europeana.eu``/``www.europeana.eu`` URI) becomes ``europeana:/<dataset>/<local>``;
    anything else is compared as it is written (trimmed). ``ValueError`` for a
    ``europeana:`` reference that names no record.
    """
    text = ref.strip()
    scheme, sep, rest = text.partition(":")
    if sep and scheme.lower() == EUROPEANA_SCHEME:
        return f"{EUROPEANA_SCHEME}:{normalize_record_id(rest)}"
    host = urlsplit(text).hostname or ""
    if host.endswith("europeana.eu"):
        try:
            return f"{EUROPEANA_SCHEME}:{normalize_record_id(text)}"
        except ValueError:
            pass
    return text


def _web_url(value: str | None) -> str | None:
    """Only http(s) URLs leave as links (never ``javascript:`` or ``data:`` from a manifest)."""
    if value and urlsplit(value).scheme in ("http", "https"):
        return value
    return None


def attribution(extra: Mapping[str, Any] | None, record_id: str | None = None) -> dict[str, str | None]:
    """Rights, provider and where the work lives, for a widget to show and link to.

    ``rights_label`` is a short code for a known rights URI (``CC-BY-SA``, ``PDM``, ``InC`` ...);
    ``provider`` is the institution that holds the work (Europeana's data provider), else the
    aggregator that delivered it.
    """
    extra = extra or {}
    rights = _text(extra, EUROPEANA_RIGHTS, RIGHTS)
    landing = _web_url(_text(extra, EUROPEANA_LANDING_PAGE, LANDING_PAGE))
    if landing is None and record_id and record_id.startswith(f"{EUROPEANA_SCHEME}:"):
        landing = LANDING_PAGE_BASE + record_id.split(":", 1)[1]
    return {
        "record_id": record_id if record_id is not None else record_id_for(extra),
        "rights": rights,
        "rights_label": licence_code(rights) if rights else None,
        "provider": _text(extra, EUROPEANA_DATA_PROVIDER, DATA_PROVIDER, EUROPEANA_PROVIDER, PROVIDER),
        "landing_page": landing,
    }
