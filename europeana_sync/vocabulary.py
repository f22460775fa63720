"""Mapping files from our category names to vocabulary URIs (Getty AAT, Wikidata).

Labels leave artsnap as semantic tags whose body is a vocabulary URI, and the push job's
idempotency key is record × URI. A typo in a URI would therefore publish a wrong tag to
Europeana, and two spellings of one URI (``https`` vs ``http``) would publish it twice; so
mapping files are validated strictly before any export or push uses them:

* URIs must be the canonical Linked Data form: ``http://vocab.getty.edu/aat/3000xxxxx``
  (9 digits) or ``http://www.wikidata.org/entity/Q<n>``; ``https``, ``/page/``,
  ``/wiki/`` spellings are refused with the canonical form suggested;
* a category may list several URIs (one per vocabulary), but never the same URI twice,
  and a URI may belong to one category only (otherwise a tag could not be mapped back);
* given the model's label set, categories the model does not know are errors (typos) and
  labels without a mapping are warnings (they are exported without a URI and not pushed).

Two file formats, chosen by suffix. JSON::

    {"format": "artsnap-vocabulary-mapping/1",
     "categories": {"impressionism": [{"uri": "http://www.wikidata.org/entity/Q40415",
                                       "label": "Impressionism"}]}}

CSV with a header row ``category,uri,label`` (label optional), one URI per row.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

FORMAT_ID = "artsnap-vocabulary-mapping/1"
SAMPLE_WIKIART_STYLES = Path(__file__).resolve().parent / "mappings" / "wikiart_styles.json"

_AAT = re.compile(r"^http://vocab\.getty\.edu/aat/(?P<id>3\d{8})$")
_WIKIDATA = re.compile(r"^http://www\.wikidata\.org/entity/(?P<id>Q[1-9]\d*)$")
_AAT_LOOSE = re.compile(r"^https?://vocab\.getty\.edu/(?:page/)?aat/(?P<id>\d+)(?:\.\w+)?/?$", re.I)
_WIKIDATA_LOOSE = re.compile(r"^https?://(?:www\.)?wikidata\.org/(?:entity|wiki)/(?P<id>Q\d+)/?$", re.I)
_CATEGORY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")


class Vocabulary(str, Enum):
    AAT = "aat"
    WIKIDATA = "wikidata"


def vocabulary_of(uri: str) -> Vocabulary | None:
    """Which supported vocabulary a canonical URI belongs to (``None``: not canonical/supported)."""
    if _AAT.match(uri):
        return Vocabulary.AAT
    if _WIKIDATA.match(uri):
        return Vocabulary.WIKIDATA
    return None


def canonical_uri(uri: str) -> str | None:
    """The canonical spelling of an AAT/Wikidata URI written another way, for error hints."""
    text = uri.strip()
    match = _AAT_LOOSE.match(text)
    if match and re.fullmatch(r"3\d{8}", match.group("id")):
        return f"http://vocab.getty.edu/aat/{match.group('id')}"
    match = _WIKIDATA_LOOSE.match(text)
    if match and re.fullmatch(r"Q[1-9]\d*", match.group("id").upper()):
        return f"http://www.wikidata.org/entity/{match.group('id').upper()}"
    return None


@dataclass(frozen=True)
class MappingEntry:
    """One category → URI line as read from a file; ``where`` locates it for messages."""

    category: str
    uri: str
    label: str | None = None
    where: str = ""


@dataclass(frozen=True)
class ValidationIssue:
    severity: str  # "error" or "warning"
    message: str
    category: str | None = None
    uri: str | None = None
    where: str = ""

    def __str__(self) -> str:
        prefix = f"{self.where}: " if self.where else ""
        return f"{self.severity}: {prefix}{self.message}"


@dataclass
class ValidationReport:
    issues: list[ValidationIssue] = field(default_factory=list)
    #: categories in the file that the model does not know (likely typos)
    unknown_categories: list[str] = field(default_factory=list)
    #: model labels without any URI
    unmapped_categories: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[ValidationIssue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[ValidationIssue]:
        return [i for i in self.issues if i.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def error(self, message: str, entry: MappingEntry | None = None, **kwargs: Any) -> None:
        self._add("error", message, entry, **kwargs)

    def warning(self, message: str, entry: MappingEntry | None = None, **kwargs: Any) -> None:
        self._add("warning", message, entry, **kwargs)

    def _add(self, severity: str, message: str, entry: MappingEntry | None, **kwargs: Any) -> None:
        if entry is not None:
            kwargs = {"category": entry.category, "uri": entry.uri, "where": entry.where, **kwargs}
        self.issues.append(ValidationIssue(severity, message, **kwargs))

    def summary(self) -> str:
        return "\n".join(str(i) for i in self.issues) or "mapping is valid"


class VocabularyMappingError(ValueError):
    """A mapping file with errors; ``report`` lists all of them, not just the first."""

    def __init__(self, report: ValidationReport, source: str = "") -> None:
        self.report = report
        where = f" in {source}" if source else ""
        super().__init__(f"{len(report.errors)} error(s){where}:\n{report.summary()}")


@dataclass(frozen=True)
class VocabularyTerm:
    uri: str
    label: str | None = None

    @property
    def vocabulary(self) -> Vocabulary:
        found = vocabulary_of(self.uri)
        assert found is not None, self.uri
        return found


@dataclass(frozen=True)
class VocabularyMapping:
    """A validated category → terms mapping."""

    terms: Mapping[str, tuple[VocabularyTerm, ...]]

    @property
    def categories(self) -> list[str]:
        return sorted(self.terms)

    def uris_for(self, category: str) -> tuple[str, ...]:
        return tuple(term.uri for term in self.terms.get(category, ()))

    def preferred(
        self, category: str, order: Iterable[Vocabulary] = (Vocabulary.WIKIDATA, Vocabulary.AAT)
    ) -> VocabularyTerm | None:
        """The term to publish for ``category``: the first vocabulary of ``order`` it has."""
        terms = self.terms.get(category, ())
        for vocabulary in order:
            for term in terms:
                if term.vocabulary is vocabulary:
                    return term
        return None

    def category_of(self, uri: str) -> str | None:
        """Reverse lookup (an annotation found on Europeana → our category)."""
        for category, terms in self.terms.items():
            if any(term.uri == uri for term in terms):
                return category
        return None


# -- reading --------------------------------------------------------------------------------


def read_entries(path: Path) -> list[MappingEntry]:
    """Entries of a ``.json`` or ``.csv`` mapping file, unvalidated (``ValueError`` if unreadable)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return entries_from_json(json.loads(path.read_text(encoding="utf-8")), source=path.name)
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            return entries_from_csv_rows(csv.DictReader(handle), source=path.name)
    raise ValueError(f"{path}: mapping files must be .json or .csv")


def entries_from_json(document: Any, *, source: str = "") -> list[MappingEntry]:
    if not isinstance(document, Mapping) or not isinstance(document.get("categories"), Mapping):
        raise ValueError(f'{source}: expected {{"categories": {{name: [{{"uri": ...}}]}}}}')
    if document.get("format", FORMAT_ID) != FORMAT_ID:
        raise ValueError(f"{source}: unsupported format {document.get('format')!r} (expected {FORMAT_ID})")
    entries = []
    for category, terms in document["categories"].items():
        if isinstance(terms, (str, Mapping)):
            terms = [terms]
        for index, term in enumerate(terms or ()):
            where = f"{source}: categories.{category}[{index}]"
            if isinstance(term, str):
                entries.append(MappingEntry(str(category), term, None, where))
            elif isinstance(term, Mapping):
                label = term.get("label")
                entries.append(
                    MappingEntry(
                        str(category), str(term.get("uri", "")), label if isinstance(label, str) else None, where
                    )
                )
            else:
                entries.append(MappingEntry(str(category), repr(term), None, where))
    return entries


def entries_from_csv_rows(rows: Iterable[Mapping[str, str | None]], *, source: str = "") -> list[MappingEntry]:
    entries = []
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        if "category" not in row or "uri" not in row:
            raise ValueError(f"{source}: the header must name the columns category,uri[,label]")
        category = (row.get("category") or "").strip()
        uri = (row.get("uri") or "").strip()
        if not category and not uri:
            continue  # blank line
        label = (row.get("label") or "").strip() or None
        entries.append(MappingEntry(category, uri, label, f"{source}:{line}"))
    return entries


# -- validating -----------------------------------------------------------------------------


def validate_entries(
    entries: Iterable[MappingEntry], known_categories: Iterable[str] | None = None
) -> ValidationReport:
    """Every problem of a mapping at once, so a curator fixes the file in one go."""
    report = ValidationReport()
    seen_pairs: set[tuple[str, str]] = set()
    owner_of_uri: dict[str, str] = {}
    spelling_of: dict[str, str] = {}
    categories: list[str] = []
    for entry in entries:
        category = entry.category
        if not category or not _CATEGORY.match(category):
            report.error(f"invalid category name {category!r} (letters, digits, '_' and '-')", entry)
            continue
        folded = category.casefold()
        if folded in spelling_of and spelling_of[folded] != category:
            report.error(f"category {category!r} differs from {spelling_of[folded]!r} only in case", entry)
            continue
        spelling_of[folded] = category
        if category not in categories:
            categories.append(category)
        uri = entry.uri.strip()
        if vocabulary_of(uri) is None:
            hint = canonical_uri(uri)
            if hint:
                report.error(f"URI {uri!r} is not in canonical form; use {hint}", entry)
            else:
                report.error(
                    f"URI {uri!r} is neither a Getty AAT (http://vocab.getty.edu/aat/3xxxxxxxx) "
                    "nor a Wikidata (http://www.wikidata.org/entity/Q…) URI",
                    entry,
                )
            continue
        if (category, uri) in seen_pairs:
            report.error(f"{uri} is listed twice for {category!r}", entry)
            continue
        seen_pairs.add((category, uri))
        if uri in owner_of_uri and owner_of_uri[uri] != category:
            report.error(f"{uri} is mapped to both {owner_of_uri[uri]!r} and {category!r}", entry)
            continue
        owner_of_uri[uri] = category
    if known_categories is not None:
        known = list(dict.fromkeys(known_categories))
        report.unknown_categories = [c for c in categories if c not in known]
        for category in report.unknown_categories:
            report.error(
                f"category {category!r} is not a label of the model (known: {', '.join(sorted(known))})",
                category=category,
            )
        mapped = {category for category, _ in seen_pairs}
        report.unmapped_categories = [c for c in known if c not in mapped]
        for category in report.unmapped_categories:
            report.warning(
                f"label {category!r} has no vocabulary URI; it is exported without one and not published",
                category=category,
            )
    return report


def mapping_from_entries(entries: Iterable[MappingEntry]) -> VocabularyMapping:
    terms: dict[str, list[VocabularyTerm]] = {}
    for entry in entries:
        bucket = terms.setdefault(entry.category, [])
        if all(t.uri != entry.uri for t in bucket):
            bucket.append(VocabularyTerm(entry.uri.strip(), entry.label))
    return VocabularyMapping({category: tuple(ts) for category, ts in terms.items()})


def load_mapping(
    path: Path, known_categories: Iterable[str] | None = None
) -> tuple[VocabularyMapping, ValidationReport]:
    """Read and validate; raises :class:`VocabularyMappingError` listing every error.

    Returns the report too, whose warnings (unmapped labels) the caller should show.
    """
    entries = read_entries(Path(path))
    report = validate_entries(entries, known_categories)
    if not report.ok:
        raise VocabularyMappingError(report, str(path))
    return mapping_from_entries(entries), report


def to_json_document(mapping: VocabularyMapping) -> dict[str, Any]:
    """The JSON file form of ``mapping`` (for writing a mapping a curator edited in code)."""
    return {
        "format": FORMAT_ID,
        "categories": {
            category: [{"uri": t.uri, **({"label": t.label} if t.label else {})} for t in mapping.terms[category]]
            for category in mapping.categories
        },
    }
