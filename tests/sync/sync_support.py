"""Helpers shared by the sync job tests (tests/test_sync_*.py).

Label and push tests build their catalogue rows directly (no images, no ONNX model): the
records are the fake's synthetic ones (``/9200999/artsnap_demo_000`` …), so the fake's
Annotations API and WITH accept them as targets.
"""

from __future__ import annotations

from pathlib import Path

from backend.engine.catalog.store import Catalog, NewItem
from backend.engine.catalog.sync_store import SyncStore
from backend.sync import provenance
from backend.sync.targets import EuropeanaTarget, WithTarget
from europeana_sync.annotations_api import AnnotationsClient
from europeana_sync.fake import FakeServer
from europeana_sync.fake.synthetic import DATASET, STYLES
from europeana_sync.fake.testing import ManualClock, instant_session
from europeana_sync.fetch import FetchPolicy, ImageFetcher
from europeana_sync.oidc import OidcTokenProvider
from europeana_sync.search_api import SearchApiClient
from europeana_sync.vocabulary import SAMPLE_WIKIART_STYLES, load_mapping
from europeana_sync.with_api import WithClient

MODEL = ("wikiart-style", "2026.11")


def record_id(index: int) -> str:
    return f"/{DATASET}/artsnap_demo_{index:03d}"


def open_catalog(folder: Path) -> Catalog:
    folder.mkdir(parents=True, exist_ok=True)
    return Catalog(f"sqlite:///{folder / 'catalog.db'}")


def seed_labelled_collection(
    catalog: Catalog, name: str = "eu", count: int = 8, *, curator: dict[int, str] | None = None
) -> list[int]:
    """``count`` indexed items for records 0..count-1, each with one machine label (its
    synthetic style, confidence 0.55 + 0.05·i, status *proposed*) and, for the indexes in
    ``curator``, a curator label. Returns item ids in record order."""
    cid = catalog.ensure_collection(name)
    rows = []
    for i in range(count):
        rid = record_id(i)
        rows.append(
            NewItem(
                source_path=provenance.source_path_for(rid),
                sha256=f"{i:064x}",
                phash=None,
                title=f"Study no. {i}" if i != 1 else '=HYPERLINK("http://x")',
                width=320,
                height=240,
                format="PNG",
                media_path=None,
                thumb_path=None,
                labels=((curator or {}).get(i),) if (curator or {}).get(i) else (),
                status="indexed",
                extra={provenance.RECORD_ID: rid, provenance.DATA_PROVIDER: "Artsnap Demo Museum"},
            )
        )
    ids = catalog.add_items(cid, rows)
    model_id = catalog.register_model(*MODEL, "classifier", {}, None)
    catalog.add_machine_labels(
        {item_id: [(STYLES[i % len(STYLES)], 0.55 + 0.05 * i)] for i, item_id in enumerate(ids)}, model_id
    )
    return ids


def accept_all_machine_labels(store: SyncStore, ids: list[int]) -> None:
    for i, item_id in enumerate(ids):
        store.set_label_status(item_id, STYLES[i % len(STYLES)], "accepted", source="machine")


def sample_mapping():
    mapping, _ = load_mapping(SAMPLE_WIKIART_STYLES)
    return mapping


def search_client(fake: FakeServer, clock: ManualClock, **policy: float | int) -> SearchApiClient:
    return SearchApiClient("test-key", base_url=fake.url, http=instant_session(clock, **policy))


def media_fetcher(fake: FakeServer, clock: ManualClock) -> ImageFetcher:
    """The pull's safe image fetcher, allowed to reach the fake; its retry waits never sleep."""
    return ImageFetcher(FetchPolicy.for_api(fake.url), sleep=clock.sleep)


def europeana_target(
    fake: FakeServer,
    clock: ManualClock,
    store: SyncStore,
    *,
    client_id: str = "artsnap-curator",
    secret: str = "curator-secret",
    **policy: float | int,
) -> EuropeanaTarget:
    http = instant_session(clock, **policy)
    tokens = OidcTokenProvider(fake.endpoints.token_url, client_id, secret, http=http, clock=clock)
    client = AnnotationsClient("test-key", tokens, base_url=fake.url, http=http)
    return EuropeanaTarget(client, known_creator=store.known_creator("europeana"))


def with_target(fake: FakeServer, clock: ManualClock) -> WithTarget:
    client = WithClient(
        fake.endpoints.with_api, username="curator@artsnap.test", password="with-password", http=instant_session(clock)
    )
    return WithTarget(client)


def live_tags(fake: FakeServer) -> list[tuple[str, str]]:
    """(record id, body) of every annotation the fake holds and has not deleted."""
    return sorted((a.record_id, a.body_uri or str(a.body)) for a in fake.state.annotations.all())
