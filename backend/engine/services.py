"""The engine, assembled: one object per process that the CLI and the HTTP app share.

Built from :class:`Settings`; models and indexes load lazily on first use (or at gunicorn
post-fork via ``search.warm_up``), once per process.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..config import Settings
from .catalog.store import Catalog
from .code_descriptor import active_code_descriptor
from .descriptors import Descriptor, build_descriptors
from .index_store import IndexStore
from .ingest import IngestService
from .labelling import ActiveClassifier
from .search import SearchService
from .style_descriptor import active_style_model

log = logging.getLogger(__name__)


@dataclass
class Engine:
    settings: Settings
    catalog: Catalog
    descriptors: dict[str, Descriptor]
    index_store: IndexStore
    ingest: IngestService
    search: SearchService

    @classmethod
    def open(cls, settings: Settings) -> Engine:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        catalog = Catalog(settings.database_url)
        style_model = active_style_model(catalog)
        try:
            descriptors = build_descriptors(
                settings.models_dir, threads=settings.threads, device=settings.device, style_model=style_model
            )
        except ValueError as exc:  # trained on another backbone's features: serve without it
            log.error("%s", exc)
            style_model = None
            descriptors = build_descriptors(settings.models_dir, threads=settings.threads, device=settings.device)
        code = active_code_descriptor(catalog, descriptors["cnn"])
        if code is not None:
            descriptors["code"] = code
        store = IndexStore(
            settings.index_dir,
            descriptors,
            settings.index_factory,
            factories={"code": settings.code_index_factory},
            params={"cnn": settings.index_search_params, "code": settings.code_search_params},
            mmap=settings.index_mmap,
        )
        classifier = ActiveClassifier(catalog, threads=settings.threads, device=settings.device)
        return cls(
            settings=settings,
            catalog=catalog,
            descriptors=descriptors,
            index_store=store,
            ingest=IngestService(settings, catalog, descriptors, store, labeller=classifier),
            search=SearchService(settings, catalog, descriptors, store, classifier=classifier, style_model=style_model),
        )

    def close(self) -> None:
        self.catalog.close()
