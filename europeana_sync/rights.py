"""Rights statements (edm:rights) and the Search API's ``reusability`` classes.

The pull job must keep only items whose licence the curator allows, and the fake must
answer ``reusability=open`` the way the real API does, so both classify rights URIs here.
Classes follow the Search API documentation: *open* = CC0, Public Domain Mark, CC BY,
CC BY-SA; *restricted* = the other CC licences, NoC-NC, NoC-OKLR, InC-EDU; everything else
(InC, InC-OW-EU, CNE, unknown URIs) is *permission*, the conservative answer.
"""

from __future__ import annotations

import re
from enum import Enum


class Reusability(str, Enum):
    OPEN = "open"
    RESTRICTED = "restricted"
    PERMISSION = "permission"


_CC = re.compile(r"^https?://(?:www\.)?creativecommons\.org/(?P<kind>licenses|publicdomain)/(?P<code>[a-z\-]+)/", re.I)
_RS = re.compile(r"^https?://(?:www\.)?rightsstatements\.org/(?:vocab|page)/(?P<code>[A-Za-z\-]+)/", re.I)

_OPEN_CC = {("publicdomain", "zero"), ("publicdomain", "mark"), ("licenses", "by"), ("licenses", "by-sa")}
_RESTRICTED_CC = {("licenses", code) for code in ("by-nc", "by-nc-sa", "by-nc-nd", "by-nd")}
_RESTRICTED_RS = {"NoC-NC", "NoC-OKLR", "InC-EDU"}


def licence_code(rights_uri: str | None) -> str | None:
    """A short, version-free code for a rights URI: ``CC0``, ``PDM``, ``CC-BY-SA``, ``InC`` …

    Versions and ``deed.xx`` suffixes are dropped so an allow-list of codes in a config file
    does not have to list every licence version.
    """
    if not rights_uri:
        return None
    uri = rights_uri.strip()
    match = _CC.match(uri + ("" if uri.endswith("/") else "/"))
    if match:
        kind, code = match.group("kind").lower(), match.group("code").lower()
        if kind == "publicdomain":
            return {"zero": "CC0", "mark": "PDM"}.get(code, f"PD-{code}")
        return "CC-" + code.upper()
    match = _RS.match(uri + ("" if uri.endswith("/") else "/"))
    if match:
        return match.group("code")
    return None


def reusability(rights_uri: str | None) -> Reusability:
    """The ``reusability`` class the Search API files ``rights_uri`` under."""
    if not rights_uri:
        return Reusability.PERMISSION
    uri = rights_uri.strip()
    if not uri.endswith("/"):
        uri += "/"
    match = _CC.match(uri)
    if match:
        key = (match.group("kind").lower(), match.group("code").lower())
        if key in _OPEN_CC:
            return Reusability.OPEN
        if key in _RESTRICTED_CC:
            return Reusability.RESTRICTED
        return Reusability.PERMISSION
    match = _RS.match(uri)
    if match and match.group("code") in _RESTRICTED_RS:
        return Reusability.RESTRICTED
    return Reusability.PERMISSION
