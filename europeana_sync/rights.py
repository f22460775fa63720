"""Rights statements (edm:rights) and the Search API's ``reusability`` classes.

The pull job must keep only items whose licence the curator allows, and the fake must
answer ``reusability=open`` the way the real API does, so both classify rights URIs here.

The classes are exactly those of Europeana's own code, corelib's
``RightReusabilityCategorizer`` (europeana/corelib, ``corelib-web/src/main/java/eu/europeana/
corelib/web/model/rights/RightReusabilityCategorizer.java`` at c339dd4): three lists of URL
*prefixes* (the API turns each into a ``RIGHTS:(<url>*)`` Solr query) built from corelib's
``RightsOption`` URLs:

* *open*: Public Domain Mark, CC0 1.0, CC BY, CC BY-SA (any version);
* *restricted*: CC BY-NC, BY-NC-SA, BY-NC-ND, BY-ND, Europeana's out-of-copyright
  non-commercial, rightsstatements.org InC-EDU, NoC-NC and NoC-OKLR 1.0;
* *permission*: Europeana's rr-f, rr-p, rr-r, unknown and orphan-work statements,
  rightsstatements.org InC, InC-OW-EU and CNE 1.0;
* anything else is *uncategorized*: the API returns it for none of the three filters, so
  neither do we. The pull never accepts it by class (only by an explicit licence code).

The one leniency is corelib's ``RightsOption.getValueByUrl``: an ``https://`` URI and the
letter case are normalised before matching, since providers type both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import Enum


class Reusability(str, Enum):
    OPEN = "open"
    RESTRICTED = "restricted"
    PERMISSION = "permission"
    #: Not in any class of the categorizer; never returned by a ``reusability`` filter.
    UNCATEGORIZED = "uncategorized"


#: What the pull sends when the curator names no class: the Search API then pages only
#: through results the job can keep, instead of the whole in-copyright remainder.
DEFAULT_REUSABILITY = "open"

#: The values the Search API's ``reusability`` parameter takes.
FILTER_CLASSES = (Reusability.OPEN, Reusability.RESTRICTED, Reusability.PERMISSION)

# RightsOption URLs, in the categorizer's list order (first match wins, as there).
OPEN_PREFIXES: tuple[str, ...] = (
    "http://creativecommons.org/publicdomain/mark/",  # CC_NOC
    "http://creativecommons.org/publicdomain/zero/1.0/",  # CC_ZERO + "1.0/"
    "http://creativecommons.org/licenses/by/",  # CC_BY
    "http://creativecommons.org/licenses/by-sa/",  # CC_BY_SA
)
RESTRICTED_PREFIXES: tuple[str, ...] = (
    "http://creativecommons.org/licenses/by-nc/",  # CC_BY_NC
    "http://creativecommons.org/licenses/by-nc-sa/",  # CC_BY_NC_SA
    "http://creativecommons.org/licenses/by-nc-nd/",  # CC_BY_NC_ND
    "http://creativecommons.org/licenses/by-nd/",  # CC_BY_ND
    "http://www.europeana.eu/rights/out-of-copyright-non-commercial/",  # EU_OOC_NC
    "http://rightsstatements.org/vocab/InC-EDU/1.0/",  # RS_INC_EDU
    "http://rightsstatements.org/vocab/NoC-NC/1.0/",  # RS_NOC_NC
    "http://rightsstatements.org/vocab/NoC-OKLR/1.0/",  # RS_NOC_OKLR
)
PERMISSION_PREFIXES: tuple[str, ...] = (
    "http://www.europeana.eu/rights/rr-f/",  # EU_RR_F
    "http://www.europeana.eu/rights/rr-p/",  # EU_RR_P
    "http://www.europeana.eu/rights/rr-r/",  # EU_RR_R
    "http://www.europeana.eu/rights/unknown/",  # EU_U
    "http://www.europeana.eu/rights/test-orphan-work-test/",  # EU_ORPHAN
    "http://rightsstatements.org/vocab/InC/1.0/",  # RS_INC
    "http://rightsstatements.org/vocab/InC-OW-EU/1.0/",  # RS_INC_OW_EU
    "http://rightsstatements.org/vocab/CNE/1.0/",  # RS_CNE
)

_CLASSES: tuple[tuple[Reusability, tuple[str, ...]], ...] = (
    (Reusability.OPEN, OPEN_PREFIXES),
    (Reusability.RESTRICTED, RESTRICTED_PREFIXES),
    (Reusability.PERMISSION, PERMISSION_PREFIXES),
)

_CC = re.compile(r"^https?://(?:www\.)?creativecommons\.org/(?P<kind>licenses|publicdomain)/(?P<code>[a-z\-]+)/", re.I)
_RS = re.compile(r"^https?://(?:www\.)?rightsstatements\.org/(?:vocab|page)/(?P<code>[A-Za-z\-]+)/", re.I)
_EU = re.compile(r"^https?://(?:www\.)?europeana\.eu/rights/(?P<code>[a-z\-]+)/", re.I)
_EU_CODES = {
    "out-of-copyright-non-commercial": "EU-OOC-NC",
    "rr-f": "EU-RR-F",
    "rr-p": "EU-RR-P",
    "rr-r": "EU-RR-R",
    "unknown": "EU-U",
    "test-orphan-work-test": "EU-ORPHAN",
}


def licence_code(rights_uri: str | None) -> str | None:
    """A short, version-free code for a rights URI: ``CC0``, ``PDM``, ``CC-BY-SA``, ``InC`` …

    Versions and ``deed.xx`` suffixes are dropped so an allow-list of codes in a config file
    does not have to list every licence version.
    """
    if not rights_uri:
        return None
    uri = rights_uri.strip()
    if not uri.endswith("/"):
        uri += "/"
    match = _CC.match(uri)
    if match:
        kind, code = match.group("kind").lower(), match.group("code").lower()
        if kind == "publicdomain":
            return {"zero": "CC0", "mark": "PDM"}.get(code, f"PD-{code}")
        return "CC-" + code.upper()
    match = _RS.match(uri)
    if match:
        return match.group("code")
    match = _EU.match(uri)
    if match:
        return _EU_CODES.get(match.group("code").lower())
    return None


def _normalised(rights_uri: str) -> str:
    """corelib ``RightsOption.getValueByUrl``'s normalisation: trimmed, lower case, http."""
    uri = rights_uri.strip().lower()
    return "http://" + uri[len("https://") :] if uri.startswith("https://") else uri


def reusability(rights_uri: str | None) -> Reusability:
    """The ``reusability`` class the Search API files ``rights_uri`` under (see the module
    docstring); :attr:`Reusability.UNCATEGORIZED` for an unknown or missing URI."""
    if not rights_uri:
        return Reusability.UNCATEGORIZED
    uri = _normalised(rights_uri)
    for kind, prefixes in _CLASSES:
        if any(uri.startswith(prefix.lower()) for prefix in prefixes):
            return kind
    return Reusability.UNCATEGORIZED


def parse_reusability(text: str | Iterable[str] | None) -> tuple[Reusability, ...]:
    """``"open,restricted"`` (or a list of names) → the classes, in the order given.

    ``None`` or empty → ``(OPEN,)``, :data:`DEFAULT_REUSABILITY`. An unknown name (or
    ``uncategorized``, which the API does not filter by) is a ``ValueError`` naming the
    valid ones.
    """
    if text is None:
        parts: list[str] = []
    elif isinstance(text, str):
        parts = text.split(",")
    else:
        parts = [p for t in text for p in t.split(",")]
    classes: list[Reusability] = []
    for part in parts:
        name = part.strip().lower()
        if not name:
            continue
        kind = next((c for c in FILTER_CLASSES if c.value == name), None)
        if kind is None:
            raise ValueError(f"unknown reusability {name!r}; use open, restricted or permission")
        if kind not in classes:
            classes.append(kind)
    return tuple(classes) or (Reusability(DEFAULT_REUSABILITY),)


def reusability_filter(text: str | Iterable[str] | None = None) -> str:
    """The ``reusability`` parameter to send: always one, ``open`` unless asked otherwise.

    The pull calls this instead of passing the curator's flag through, so a run without
    ``--reusability`` still asks the API only for what it may keep (and spends its quota
    on nothing else).
    """
    return ",".join(kind.value for kind in parse_reusability(text))


def classes_of_licences(codes: Iterable[str]) -> tuple[Reusability, ...]:
    """The ``reusability`` classes that licence codes (``CC-BY-NC``, ``InC-EDU`` …) fall in.

    A pull that also accepts a licence outside its classes must ask the API for that
    licence's class too (and drop the rest of the class locally); unknown codes add nothing.
    """
    wanted = {c.strip().upper() for c in codes if c.strip()}
    found: list[Reusability] = []
    for kind, prefixes in _CLASSES:
        for prefix in prefixes:
            code = licence_code(prefix)
            if code and code.upper() in wanted and kind not in found:
                found.append(kind)
    return tuple(found)
