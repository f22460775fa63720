"""Typed views of Europeana Data Model (EDM) JSON: search items and full records.

The API's JSON is loose: every field may be missing, most are lists even when they hold one
value, record fields are language maps (``{"def": [...], "en": [...]}``), and the same fact
appears in different places in search items and records. Jobs should not repeat that
defensive parsing, so it happens once here and the rest of the code sees dataclasses whose
optional fields are plainly ``None`` when absent. ``raw`` keeps the original JSON for
anything not modelled yet.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .record_ids import item_uri, normalize_record_id

#: ``{"def": ["a"], "en": ["b"]}``: language → values; ``def`` = no language given.
LangMap = dict[str, list[str]]

_LANGUAGE_PREFERENCE = ("en", "def")


def first_value(value: Any) -> str | None:
    """First non-empty string of a scalar, list or language map."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, Mapping):
        for lang in _LANGUAGE_PREFERENCE:
            found = first_value(value.get(lang))
            if found:
                return found
        for values in value.values():
            found = first_value(values)
            if found:
                return found
        return None
    if isinstance(value, Iterable):
        for item in value:
            found = first_value(item)
            if found:
                return found
    return None


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value.strip() else ()
    if isinstance(value, Iterable) and not isinstance(value, Mapping):
        return tuple(v for v in value if isinstance(v, str) and v.strip())
    return ()


def _lang_map(value: Any) -> LangMap | None:
    if not isinstance(value, Mapping):
        return None
    result: LangMap = {}
    for lang, values in value.items():
        strings = list(_strings(values))
        if strings:
            result[str(lang)] = strings
    return result


def pick_language(values: LangMap | None, language: str = "en") -> str | None:
    """A value in ``language``, else the language-less ``def``, else any value."""
    if not values:
        return None
    for lang in (language, "def", *values.keys()):
        found = first_value(values.get(lang))
        if found:
            return found
    return None


def clean_landing_page(url: str | None) -> str | None:
    """Strip the ``utm_*``/``wskey`` query the API appends to ``guid``.

    The landing page is stored as provenance on each item; tracking parameters and, worse,
    an API key have no business in our catalogue.
    """
    if not url:
        return None
    parts = urllib.parse.urlsplit(url)
    kept = [
        (k, v)
        for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_") and k.lower() != "wskey"
    ]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(kept)))


@dataclass(frozen=True)
class EuropeanaItem:
    """One hit of ``/record/v2/search.json``. Only ``id`` is guaranteed."""

    id: str
    title: str | None = None
    edm_is_shown_by: str | None = None
    edm_preview: str | None = None
    edm_is_shown_at: str | None = None
    data_provider: str | None = None
    provider: str | None = None
    rights: str | None = None
    landing_page: str | None = None
    type: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def item_uri(self) -> str:
        return item_uri(self.id)

    @property
    def image_url(self) -> str | None:
        """The full image if there is one, else the thumbnail (the pull job's fallback)."""
        return self.edm_is_shown_by or self.edm_preview

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EuropeanaItem:
        raw_id = data.get("id")
        if not isinstance(raw_id, str):
            raise ValueError(f"search item without an id: {str(data)[:200]}")
        title = first_value(data.get("title")) or pick_language(_lang_map(data.get("dcTitleLangAware")))
        return cls(
            id=normalize_record_id(raw_id),
            title=title,
            edm_is_shown_by=first_value(data.get("edmIsShownBy")),
            edm_preview=first_value(data.get("edmPreview")),
            edm_is_shown_at=first_value(data.get("edmIsShownAt")),
            data_provider=first_value(data.get("dataProvider")),
            provider=first_value(data.get("provider")),
            rights=first_value(data.get("rights")),
            landing_page=clean_landing_page(first_value(data.get("guid"))),
            type=first_value(data.get("type")),
            raw=data,
        )


@dataclass(frozen=True)
class WebResource:
    """A file of a record (image, page, manifest) with what the API knows about it."""

    about: str
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None
    file_size: int | None = None

    @property
    def is_image(self) -> bool:
        return bool(self.mime_type and self.mime_type.startswith("image/"))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WebResource:
        def _int(key: str) -> int | None:
            value = data.get(key)
            return int(value) if isinstance(value, (int, float)) else None

        return cls(
            about=str(data.get("about", "")),
            mime_type=first_value(data.get("ebucoreHasMimeType")),
            width=_int("ebucoreWidth"),
            height=_int("ebucoreHeight"),
            file_size=_int("ebucoreFileByteSize"),
        )


@dataclass(frozen=True)
class Aggregation:
    """A provider aggregation (``ore:Aggregation``): where the digital object lives and its rights."""

    about: str | None
    edm_is_shown_by: str | None
    edm_is_shown_at: str | None
    edm_object: str | None
    rights: str | None
    data_provider: str | None
    provider: str | None
    has_view: tuple[str, ...] = ()
    web_resources: tuple[WebResource, ...] = ()

    def web_resource(self, url: str | None) -> WebResource | None:
        if not url:
            return None
        return next((wr for wr in self.web_resources if wr.about == url), None)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Aggregation:
        return cls(
            about=first_value(data.get("about")),
            edm_is_shown_by=first_value(data.get("edmIsShownBy")),
            edm_is_shown_at=first_value(data.get("edmIsShownAt")),
            edm_object=first_value(data.get("edmObject")),
            rights=first_value(data.get("edmRights")),
            data_provider=first_value(data.get("edmDataProvider")),
            provider=first_value(data.get("edmProvider")),
            has_view=_strings(data.get("hasView")),
            web_resources=tuple(
                WebResource.from_json(wr) for wr in data.get("webResources") or () if isinstance(wr, Mapping)
            ),
        )


@dataclass(frozen=True)
class Proxy:
    """A proxy: one party's description of the object, as language maps per field.

    The provider proxy holds what the museum said; the Europeana proxy holds enrichments.
    """

    about: str | None
    europeana_proxy: bool
    fields: Mapping[str, LangMap] = field(default_factory=dict)

    def get(self, name: str, language: str = "en") -> str | None:
        return pick_language(self.fields.get(name), language)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Proxy:
        fields = {}
        for key, value in data.items():
            mapped = _lang_map(value)
            if mapped:
                fields[key] = mapped
        return cls(
            about=first_value(data.get("about")), europeana_proxy=bool(data.get("europeanaProxy")), fields=fields
        )


@dataclass(frozen=True)
class EuropeanaRecord:
    """``/record/v2/<dataset>/<local>.json`` → ``object`` (or the v3 JSON-LD, same fields)."""

    id: str
    type: str | None
    aggregations: tuple[Aggregation, ...]
    proxies: tuple[Proxy, ...]
    edm_preview: str | None
    landing_page: str | None
    organizations: Mapping[str, LangMap] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def item_uri(self) -> str:
        return item_uri(self.id)

    @property
    def edm_is_shown_by(self) -> str | None:
        return next((a.edm_is_shown_by for a in self.aggregations if a.edm_is_shown_by), None)

    @property
    def rights(self) -> str | None:
        return next((a.rights for a in self.aggregations if a.rights), None)

    @property
    def image_url(self) -> str | None:
        return self.edm_is_shown_by or self.edm_preview

    @property
    def web_resources(self) -> tuple[WebResource, ...]:
        return tuple(wr for a in self.aggregations for wr in a.web_resources)

    def data_provider(self, language: str = "en") -> str | None:
        """The data provider's name; records give an organisation URI, resolved here."""
        value = next((a.data_provider for a in self.aggregations if a.data_provider), None)
        if value and value in self.organizations:
            return pick_language(self.organizations[value], language) or value
        return value

    def values(self, name: str) -> LangMap:
        """One field merged over all proxies (provider first), e.g. ``values("dcTitle")``."""
        merged: LangMap = {}
        for proxy in sorted(self.proxies, key=lambda p: p.europeana_proxy):
            for lang, values in (proxy.fields.get(name) or {}).items():
                bucket = merged.setdefault(lang, [])
                bucket.extend(v for v in values if v not in bucket)
        return merged

    def title(self, language: str = "en") -> str | None:
        return pick_language(self.values("dcTitle"), language) or pick_language(self.values("dcDescription"), language)

    @classmethod
    def from_json(cls, payload: Any) -> EuropeanaRecord:
        """Accepts the whole response (``{"object": ...}``) or the object itself."""
        data = payload.get("object", payload) if isinstance(payload, Mapping) else {}
        if not isinstance(data, Mapping) or not isinstance(data.get("about"), str):
            raise ValueError("record JSON without object.about")
        europeana = data.get("europeanaAggregation") or {}
        organizations = {}
        for org in data.get("organizations") or ():
            if isinstance(org, Mapping) and isinstance(org.get("about"), str):
                organizations[org["about"]] = _lang_map(org.get("prefLabel")) or {}
        return cls(
            id=normalize_record_id(data["about"]),
            type=first_value(data.get("type")),
            aggregations=tuple(
                Aggregation.from_json(a) for a in data.get("aggregations") or () if isinstance(a, Mapping)
            ),
            proxies=tuple(Proxy.from_json(p) for p in data.get("proxies") or () if isinstance(p, Mapping)),
            edm_preview=first_value(europeana.get("edmPreview")),
            landing_page=first_value(europeana.get("edmLandingPage")),
            organizations=organizations,
            raw=data,
        )

    @classmethod
    def from_jsonld(cls, payload: Mapping[str, Any]) -> EuropeanaRecord:
        """A Record API v3 answer (JSON-LD ``ProvidedCHO``); see the notes above
        :func:`_record_from_jsonld`. ``ValueError`` without an id."""
        if not isinstance(payload, Mapping):
            raise ValueError("record JSON-LD is not an object")
        return _record_from_jsonld(payload)


# -- Record API v3 (JSON-LD) ------------------------------------------------------------------
#
# europeana/record-api serialises EDM with Jackson (``record-api-model/.../io/json``): a
# ``ProvidedCHO`` with its metadata as JSON-LD language maps (``{"en": "…", "@none": [...]}``,
# ``LanguageMapSerializer``), ``proxies`` and ``isAggregatedBy`` (the provider
# ``Aggregation``); references are ``{"id": …}`` or the dereferenced object
# (``ObjectReferenceSerializer``), some compact fields plain strings (``CompactSerializer``),
# literals ``{"value": …, "language"?: …}`` (``Literal``/``LanguageLiteral``). The Europeana
# aggregation (``preview``, ``landingPage``) hangs off a proxy. These helpers read all of them.

#: v3 (JSON-LD) field → the v2 field name the rest of the code asks proxies for.
_V3_PROXY_FIELDS = {
    "title": "dcTitle",
    "alternative": "dctermsAlternative",
    "description": "dcDescription",
    "creator": "dcCreator",
    "contributor": "dcContributor",
    "subject": "dcSubject",
    "date": "dcDate",
    "type": "dcType",
    "dcType": "dcType",
    "format": "dcFormat",
    "identifier": "dcIdentifier",
    "language": "dcLanguage",
    "publisher": "dcPublisher",
    "created": "dctermsCreated",
    "medium": "dctermsMedium",
    "year": "year",
}


def _ld_id(value: Any) -> str | None:
    """The URI of a JSON-LD reference: a string, ``{"id": …}`` / ``{"@id": …}``, or a list."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, Mapping):
        found = value.get("id", value.get("@id"))
        return found.strip() or None if isinstance(found, str) else None
    if isinstance(value, list):
        return next((v for v in (_ld_id(x) for x in value) if v), None)
    return None


def _ld_lang_map(value: Any) -> LangMap:
    """A v3 language map, literal or list of literals → our ``{"en": [...], "def": [...]}``."""
    result: LangMap = {}

    def add(lang: str | None, text: Any) -> None:
        if isinstance(text, str) and text.strip():
            bucket = result.setdefault(lang or "def", [])
            if text not in bucket:
                bucket.append(text)

    def walk(node: Any) -> None:
        if isinstance(node, str):
            add(None, node)
        elif isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, Mapping):
            if "value" in node or "@value" in node:
                add(node.get("language") or node.get("@language"), node.get("value", node.get("@value")))
            elif "prefLabel" in node:  # a dereferenced contextual entity
                walk(node["prefLabel"])
            elif "id" in node or "@id" in node or "type" in node:
                return  # a bare reference: no text
            else:  # a language map
                for lang, values in node.items():
                    for text in values if isinstance(values, list) else [values]:
                        add(None if lang in ("@none", "def") else str(lang), text)

    walk(value)
    return result


def _ld_objects(node: Any) -> Iterable[Mapping[str, Any]]:
    """Every JSON object in a JSON-LD document, depth first."""
    if isinstance(node, Mapping):
        yield node
        for value in node.values():
            yield from _ld_objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from _ld_objects(value)


def _ld_type(node: Mapping[str, Any]) -> str | None:
    value = node.get("type", node.get("@type"))
    return value if isinstance(value, str) else None


def _ld_web_resource(node: Any) -> WebResource | None:
    about = _ld_id(node)
    if not about:
        return None
    meta = node.get("techMeta") if isinstance(node, Mapping) else None
    meta = meta if isinstance(meta, Mapping) else {}

    def _int(*keys: str) -> int | None:
        for key in keys:
            value = meta.get(key)
            if isinstance(value, Mapping):
                value = value.get("value")
            if isinstance(value, (int, float)):
                return int(value)
        return None

    mime = meta.get("hasMimeType", meta.get("mimetype"))
    return WebResource(
        about=about,
        mime_type=first_value(mime.get("value") if isinstance(mime, Mapping) else mime),
        width=_int("width"),
        height=_int("height"),
        file_size=_int("fileByteSize", "fileSize"),
    )


def _ld_aggregation(node: Mapping[str, Any]) -> Aggregation:
    resources = [
        wr
        for wr in (
            _ld_web_resource(node.get(key))
            for key in ("isShownBy", "object", "isShownAt")
            if isinstance(node.get(key), Mapping)
        )
        if wr is not None
    ]
    views = node.get("hasView")
    view_nodes = views if isinstance(views, list) else [views] if views else []
    resources += [wr for wr in (_ld_web_resource(v) for v in view_nodes if isinstance(v, Mapping)) if wr is not None]
    return Aggregation(
        about=_ld_id(node),
        edm_is_shown_by=_ld_id(node.get("isShownBy")),
        edm_is_shown_at=_ld_id(node.get("isShownAt")),
        edm_object=_ld_id(node.get("object")),
        rights=_ld_id(node.get("rights")),
        data_provider=_ld_id(node.get("dataProvider")) or pick_language(_ld_lang_map(node.get("dataProvider"))),
        provider=_ld_id(node.get("provider")) or pick_language(_ld_lang_map(node.get("provider"))),
        has_view=tuple(v for v in (_ld_id(x) for x in view_nodes) if v),
        web_resources=tuple(resources),
    )


def _ld_proxy(node: Mapping[str, Any], *, europeana: bool) -> Proxy:
    fields: dict[str, LangMap] = {}
    for key, name in _V3_PROXY_FIELDS.items():
        if key in node:
            mapped = _ld_lang_map(node[key])
            if mapped:
                merged = fields.setdefault(name, {})
                for lang, values in mapped.items():
                    merged.setdefault(lang, []).extend(v for v in values if v not in merged.get(lang, []))
    return Proxy(about=_ld_id(node), europeana_proxy=europeana, fields=fields)


def _record_from_jsonld(payload: Mapping[str, Any]) -> EuropeanaRecord:
    data: Any = payload
    if isinstance(payload.get("items"), list) and payload["items"]:  # a /record/v3/retrieve page
        data = payload["items"][0]
    if not isinstance(data, Mapping) or not isinstance(_ld_id(data), str):
        raise ValueError("record JSON-LD without an id")
    aggregations = data.get("isAggregatedBy")
    aggregation_nodes = aggregations if isinstance(aggregations, list) else [aggregations]
    proxies = [p for p in data.get("proxies") or () if isinstance(p, Mapping)]
    proxy_views = [_ld_proxy(p, europeana=bool(p.get("europeanaProxy"))) for p in proxies]
    # The CHO carries the merged metadata too; it counts as the provider's word.
    proxy_views.append(_ld_proxy(data, europeana=False))
    europeana = next((n for n in _ld_objects(data) if _ld_type(n) == "EuropeanaAggregation"), {})
    organizations: dict[str, LangMap] = {}
    for node in _ld_objects(data):
        if _ld_type(node) == "Organization" and _ld_id(node) and node.get("prefLabel"):
            organizations[_ld_id(node) or ""] = _ld_lang_map(node["prefLabel"])
    edm_type = data.get("edmType")
    return EuropeanaRecord(
        id=normalize_record_id(_ld_id(data) or ""),
        type=edm_type if isinstance(edm_type, str) else None,
        aggregations=tuple(_ld_aggregation(a) for a in aggregation_nodes if isinstance(a, Mapping)),
        proxies=tuple(proxy_views),
        edm_preview=_ld_id(europeana.get("preview")),
        landing_page=_ld_id(europeana.get("landingPage")),
        organizations=organizations,
        raw=data,
    )
