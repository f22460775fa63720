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
    """``/record/v2/<dataset>/<local>.json`` → ``object``."""

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
