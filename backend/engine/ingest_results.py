"""What an ingest reports: per-record errors, duplicate lines, and the run's summary.

The CLI, the HTTP API and the Europeana pull all show the same summary, so its shape and
its wording for a person live here, apart from the service that fills it in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .index_store import ReconcileReport
from .recognition import backfill_command


@dataclass(frozen=True)
class FileError:
    """One record that could not be ingested; the ingest goes on with the next."""

    source_path: str
    code: str
    message: str

    def line(self) -> str:
        """How a front end shows it: ``error: PATH: CODE: MESSAGE``."""
        return f"error: {self.source_path}: {self.code}: {self.message}"


def duplicate_line(source_path: str, of_source_path: str, kind: str, distance: int) -> str:
    """How a front end shows a record linked to an item already kept, not indexed itself."""
    article = "an" if kind == "exact" else "a"
    extra = f", distance {distance}" if kind == "near" else ""
    return f"duplicate: {source_path} is {article} {kind} duplicate of {of_source_path}{extra} (linked, not indexed)"


@dataclass
class IngestSummary:
    collection: str
    source: str
    total: int = 0
    added: int = 0
    exact_duplicates: int = 0
    near_duplicates: int = 0
    already_done: int = 0
    reembedded: int = 0
    #: Duplicates whose kept item had been deleted, promoted or relinked at the start of the run.
    repaired: int = 0
    #: Uploads that held a path of this SOURCE, moved aside so the curator's file went in.
    displaced: int = 0
    failed: list[FileError] = field(default_factory=list)
    skipped_non_images: int = 0
    elapsed_s: float = 0.0
    reconcile: ReconcileReport | None = None
    #: False for a collection ingested before local features existed: its new items get
    #: none either, until :meth:`IngestService.backfill_local_features` has run.
    local_features: bool = True

    @property
    def images_per_s(self) -> float:
        done = self.added + self.exact_duplicates + self.near_duplicates
        return done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "collection": self.collection,
            "source": self.source,
            "total": self.total,
            "added": self.added,
            "exact_duplicates": self.exact_duplicates,
            "near_duplicates": self.near_duplicates,
            "already_done": self.already_done,
            "reembedded": self.reembedded,
            "repaired": self.repaired,
            "displaced": self.displaced,
            "failed": [e.__dict__ for e in self.failed],
            "skipped_non_images": self.skipped_non_images,
            "elapsed_s": round(self.elapsed_s, 3),
            "images_per_s": round(self.images_per_s, 1),
            "local_features": self.local_features,
        }

    def notes(self) -> list[str]:
        """What the user should know and do after this ingest, as lines for a front end."""
        if self.local_features:
            return []
        return [
            f"note: {self.collection!r} has no local features yet, so searches cannot verify matches; "
            f"run `{backfill_command(self.collection)}` once"
        ]
