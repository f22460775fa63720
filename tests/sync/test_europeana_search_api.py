"""Search/Record client: cursor paging, checkpoints, early page ends, typed items and records."""

from __future__ import annotations

import io
import json
import urllib.parse

import pytest
import requests
from PIL import Image

from europeana_sync.edm import EuropeanaItem, EuropeanaRecord, clean_landing_page
from europeana_sync.errors import (
    ApiKeyRejected,
    BadRequest,
    Forbidden,
    LoginRefused,
    NotFound,
    RateLimited,
    RetriesExhausted,
    TruncatedResults,
)
from europeana_sync.exit_codes import EXIT_CONFIG, EXIT_TEMPFAIL, EXIT_USAGE, TEMPORARY, exit_code_for
from europeana_sync.fake import FakeAccounts, FakeServer
from europeana_sync.fake.testing import ManualClock, instant_session
from europeana_sync.search_api import SearchApiClient, SearchCheckpoint, SearchQuery

SEARCH_PATH = "/record/v2/search.json"


@pytest.fixture
def client(fake):
    return SearchApiClient("key", base_url=fake.url, http=instant_session(ManualClock()))


def cursors_sent(fake: FakeServer) -> list[str]:
    return [urllib.parse.parse_qs(entry.query)["cursor"][0] for entry in fake.state.logged(SEARCH_PATH)]


def test_pages_through_all_results_with_cursor(fake, client):
    results = client.search("*", rows=5)
    ids = [item.id for item in results]
    assert len(ids) == 24 == len(set(ids))
    assert results.pages_fetched == 5 and results.total_results == 24
    sent = cursors_sent(fake)
    assert sent[0] == "*" and len(set(sent)) == 5  # each page asked once, new cursor each time


def test_last_page_has_no_next_cursor_and_exact_multiple_ends_cleanly(fake, client):
    results = client.search("*", rows=12)
    assert len(list(results)) == 24
    assert results.next_cursor is None and results.pages_fetched == 2


def test_items_are_typed_and_missing_fields_are_none(client):
    items = {item.id: item for item in client.search("*")}
    full = items["/9200999/artsnap_demo_000"]
    assert full.title == "Art Nouveau study no. 1"
    assert full.edm_is_shown_by.endswith("/fake-media/9200999/artsnap_demo_000/full.png")
    assert full.edm_preview.endswith("/preview.png")
    assert full.rights == "http://creativecommons.org/publicdomain/zero/1.0/"
    assert full.data_provider == "Artsnap Demo Museum"
    assert full.landing_page == "https://www.europeana.eu/item/9200999/artsnap_demo_000"
    assert full.item_uri == "http://data.europeana.eu/item/9200999/artsnap_demo_000"
    preview_only = items["/9200999/artsnap_demo_017"]
    assert preview_only.edm_is_shown_by is None and preview_only.image_url == preview_only.edm_preview
    no_image = items["/9200999/artsnap_demo_022"]
    assert no_image.edm_is_shown_by is None and no_image.edm_preview is None and no_image.image_url is None


def test_filters_reach_the_server(client):
    assert len(list(client.search("*", reusability="open"))) == 22
    assert len(list(client.search("*", media=True))) == 22
    assert {i.id for i in client.search("baroque")} == {f"/9200999/artsnap_demo_{n:03d}" for n in (1, 8, 15, 22)}
    assert len(list(client.search("*", qf=['DATA_PROVIDER:"Musée Imaginaire"']))) == 8
    assert len(list(client.search("*", qf=["RIGHTS:*creativecommons.org/licenses/by*"]))) == 12


def test_rows_are_validated_before_any_request(fake, client):
    with pytest.raises(ValueError):
        client.search("*", rows=101)
    with pytest.raises(ValueError):
        client.search("  ")
    assert fake.state.logged(SEARCH_PATH) == []


def test_checkpoint_resumes_after_the_last_handled_item(fake, client):
    first_run = client.search("*", rows=5)
    handled = [next(first_run).id for _ in range(7)]  # crash after 7 items (page 2, index 1)
    checkpoint = first_run.checkpoint()
    assert checkpoint.skip == 2 and checkpoint.offset == 5 and checkpoint.cursor != "*"
    saved = json.loads(json.dumps(checkpoint.to_json()))  # survives a state file
    resumed = client.search("*", rows=5, resume_from=SearchCheckpoint.from_json(saved))
    rest = [item.id for item in resumed]
    everything = [item.id for item in client.search("*", rows=5)]
    assert handled + rest == everything


def test_checkpoint_after_a_failed_page_load_loses_nothing(fake):
    from europeana_sync.errors import RetriesExhausted

    client = SearchApiClient("key", base_url=fake.url, http=instant_session(ManualClock(), max_attempts=2))
    results = client.search("*", rows=5)
    handled = [next(results).id for _ in range(5)]  # page 1 done
    fake.set_faults(server_errors=-1)
    with pytest.raises(RetriesExhausted):
        next(results)  # page 2 cannot be loaded
    checkpoint = results.checkpoint()
    assert checkpoint.skip == 0 and checkpoint.offset == 5
    fake.set_faults(server_errors=0)
    rest = [item.id for item in client.search("*", rows=5, resume_from=checkpoint)]
    assert len(handled + rest) == 24 == len(set(handled + rest))


def test_checkpoint_from_another_query_is_refused(client):
    results = client.search("*", rows=5)
    next(results)
    with pytest.raises(ValueError, match="different query"):
        client.search("baroque", rows=5, resume_from=results.checkpoint())
    with pytest.raises(ValueError, match="different query"):
        client.search("*", rows=10, resume_from=results.checkpoint())


def test_page_ending_early_is_asked_again_and_nothing_is_lost(fake, client):
    fake.set_faults(early_page_ends=1)
    ids = [item.id for item in client.search("*", rows=5)]
    assert len(ids) == 24 == len(set(ids))
    assert fake.state.faults.injected["early_page_ends"] == 1
    assert len(fake.state.logged(SEARCH_PATH)) == 6  # five pages + one re-ask


def test_page_ending_early_for_good_raises_with_resume_point(fake, client):
    fake.set_faults(early_page_ends=-1)
    results = client.search("*", rows=5)
    with pytest.raises(TruncatedResults) as caught:
        list(results)
    assert caught.value.received == 5 and caught.value.total == 24
    tolerant = client.search("*", rows=5, allow_truncated=True)
    assert len(list(tolerant)) == 5 and tolerant.truncated


def test_early_end_switched_at_run_time_through_admin_endpoint(fake, client):
    import requests

    results = client.search("*", rows=5)
    first = [next(results) for _ in range(5)]
    reply = requests.post(f"{fake.url}/_fake/faults", json={"early_page_ends": 2}, timeout=5)
    assert reply.status_code == 200 and reply.json()["config"]["early_page_ends"] == 2
    rest = list(results)
    assert len(first) + len(rest) == 24


def test_record_is_typed(client):
    record = client.record("http://data.europeana.eu/item/9200999/artsnap_demo_003")
    assert isinstance(record, EuropeanaRecord)
    assert record.id == "/9200999/artsnap_demo_003"
    assert record.edm_is_shown_by.endswith("/artsnap_demo_003/full.png")
    assert record.edm_preview.endswith("/artsnap_demo_003/preview.png")
    assert record.rights == "http://creativecommons.org/licenses/by-sa/4.0/"
    assert record.title() == "Impressionism study no. 1"
    assert record.values("dcTitle") == {"en": ["Impressionism study no. 1"]}
    assert record.web_resources[0].about == record.edm_is_shown_by


def test_downloads_edm_is_shown_by_without_sending_the_key(fake, client):
    item = next(iter(client.search("*")))
    data = client.download(item.edm_is_shown_by)
    assert Image.open(io.BytesIO(data)).size == (320, 240)
    media = fake.state.logged("/fake-media")
    assert media and media[0].api_key_header is None


def test_clean_landing_page_drops_tracking_and_keys():
    url = "https://www.europeana.eu/item/1/x?utm_source=api&utm_medium=api&wskey=abc&lang=en"
    assert clean_landing_page(url) == "https://www.europeana.eu/item/1/x?lang=en"


# -- the shared fixtures (real API responses) ------------------------------------------------


@pytest.fixture
def fixture_fake(europeana_fixtures):
    with FakeServer(fixtures_dir=europeana_fixtures) as server:
        yield server


def test_pages_through_real_fixture_results(fixture_fake):
    client = SearchApiClient("key", base_url=fixture_fake.url, http=instant_session(ManualClock()))
    results = client.search("*", rows=10)
    items = list(results)
    assert len(items) == 41 and results.pages_fetched == 5
    first = items[0]
    assert first.id == "/2022704/lod_oai_bibliotecadigital_jcyl_es_26229_ent1"
    assert first.data_provider == "Biblioteca Digital de Castilla y León"
    assert first.landing_page == "https://www.europeana.eu/item/2022704/lod_oai_bibliotecadigital_jcyl_es_26229_ent1"
    assert first.edm_is_shown_by.startswith(fixture_fake.url)  # rewritten to the fake's media
    assert Image.open(io.BytesIO(client.download(first.edm_is_shown_by))).format == "PNG"


def test_real_record_fixture_through_the_client(fixture_fake):
    client = SearchApiClient("key", base_url=fixture_fake.url, http=instant_session(ManualClock()))
    record = client.record("/2021650/memorix_0000ee69_1b9e_6823_478f_c88af61736c6")
    assert record.data_provider() == "Netherlands Institute for Military History"
    assert record.rights == "http://creativecommons.org/publicdomain/zero/1.0/"
    assert len(record.web_resources) == 4
    assert record.landing_page == "https://www.europeana.eu/item/2021650/memorix_0000ee69_1b9e_6823_478f_c88af61736c6"


@pytest.mark.parametrize(
    "name, shown_by, webresources",
    [
        ("item_full.json", "https://images.memorix.nl/nda/thumb/fullsize/010a31d7-9316-54d7-6ad0-83b9914688d9.jpg", 4),
        ("item_no_aggregation.json", None, 0),
        (
            "item_no_webresource.json",
            "https://images.memorix.nl/nda/thumb/fullsize/010a31d7-9316-54d7-6ad0-83b9914688d9.jpg",
            0,
        ),
        (
            "item_not_first_webresource.json",
            "https://www.cortesaragon.es/fondoHistorico/i18n/catalogo_imagenes/imagen_id.do?idImagen=122319",
            3,
        ),
    ],
)
def test_record_parsing_of_fixture_variants(europeana_fixtures, name, shown_by, webresources):
    payload = json.loads((europeana_fixtures / "search_record" / name).read_text(encoding="utf-8"))
    record = EuropeanaRecord.from_json(payload)
    assert record.edm_is_shown_by == shown_by
    assert len(record.web_resources) == webresources
    assert record.edm_preview.startswith("https://api.europeana.eu/thumbnail/v2/url.json")
    assert record.image_url == (shown_by or record.edm_preview)


def test_not_first_webresource_fixture_resolves_provider_and_languages(europeana_fixtures):
    payload = json.loads((europeana_fixtures / "search_record" / "item_not_first_webresource.json").read_text())
    record = EuropeanaRecord.from_json(payload)
    assert record.data_provider() == "Historical Documentary Fund of the Cortes de Aragón"
    assert record.rights == "http://creativecommons.org/licenses/by-nc-nd/4.0/"
    images = [wr for wr in record.web_resources if wr.is_image]
    assert record.web_resources[0] not in images and images[0].mime_type == "image/jpeg"
    assert record.title().startswith("Portrait of Augustine")


def test_search_item_fixture_with_missing_fields(europeana_fixtures):
    payload = json.loads((europeana_fixtures / "search_record" / "image_data_sub_provider_example.json").read_text())
    item = EuropeanaItem.from_json(payload)
    assert item.id == "/9200579/zzwnbyhb"
    assert item.title and item.rights and item.edm_is_shown_by
    assert "utm_" not in item.landing_page


# -- the filters a pull for images sends (defects 3 and 7) ------------------------------------


def sent_params(fake: FakeServer) -> list[dict[str, list[str]]]:
    return [urllib.parse.parse_qs(entry.query) for entry in fake.state.logged(SEARCH_PATH)]


def test_an_image_query_always_sends_a_licence_filter_media_and_thumbnail(fake, client):
    spec = SearchQuery.for_images("*")
    items = list(client.results(spec))
    [params] = sent_params(fake)
    assert params["reusability"] == ["open"] and params["media"] == ["true"] and params["thumbnail"] == ["true"]
    assert params["qf"] == ["TYPE:IMAGE"]
    # open licence, full image and thumbnail: not the in-copyright, NC, preview-only or imageless ones
    assert len(items) == 20 and all(i.edm_is_shown_by and i.edm_preview for i in items)
    explicit = SearchQuery.for_images("x", ["TYPE:IMAGE", "COUNTRY:france"], reusability="open,restricted")
    assert explicit.reusability == "open,restricted" and explicit.qf == ("TYPE:IMAGE", "COUNTRY:france")
    previews_too = SearchQuery.for_images("x", media=None)
    assert ("media", "true") not in previews_too.params("*") and ("thumbnail", "true") in previews_too.params("*")


def test_thumbnail_filter_reaches_the_server_and_keeps_old_checkpoints_valid(fake, client):
    assert len(list(client.search("*", thumbnail=True))) == 23  # record 22 has no preview
    assert "thumbnail=true" in fake.state.logged(SEARCH_PATH)[0].query
    assert SearchQuery("*").fingerprint == SearchQuery("*", thumbnail=None).fingerprint
    assert SearchQuery("*").fingerprint != SearchQuery("*", thumbnail=True).fingerprint


# -- a refused API key is a credentials error (defect 6) --------------------------------------


def test_a_bad_api_key_is_a_credentials_error_never_retried():
    with FakeServer(accounts=FakeAccounts(api_keys=frozenset({"the-right-key"}))) as fake:
        clock = ManualClock()
        client = SearchApiClient("an-expired-key", base_url=fake.url, http=instant_session(clock))
        with pytest.raises(ApiKeyRejected, match="refused the API key") as caught:
            list(client.search("*"))
        assert exit_code_for(caught.value) == EXIT_CONFIG and caught.value.status == 401
        with pytest.raises(ApiKeyRejected):
            client.record("/9200999/artsnap_demo_000")
        assert [r.status for r in fake.state.logged("/record/v2")] == [401, 401] and clock.sleeps == []
        good = SearchApiClient("the-right-key", base_url=fake.url, http=instant_session(clock))
        assert len(list(good.search("*"))) == 24


@pytest.mark.parametrize(
    "error, code",
    [
        (ApiKeyRejected(401, "no"), EXIT_CONFIG),
        (LoginRefused(400, "no"), EXIT_CONFIG),
        (Forbidden(403, "no role"), EXIT_CONFIG),
        (RateLimited("429"), EXIT_TEMPFAIL),
        (RetriesExhausted(503, "down"), EXIT_TEMPFAIL),
        (RetriesExhausted(None, "connection refused"), EXIT_TEMPFAIL),
        (TruncatedResults(10, 20, "c"), EXIT_TEMPFAIL),
        (BadRequest(400, "Invalid query"), EXIT_USAGE),
        (NotFound(404, "gone"), EXIT_CONFIG),
    ],
)
def test_exit_codes_tell_cron_what_to_retry(error, code):
    assert exit_code_for(error) == code
    assert (code in TEMPORARY) == (code == 75)


# -- Record API v3 alongside v2 (defect 12) ---------------------------------------------------


def test_search_v3_answers_like_v2(fake):
    v3 = SearchApiClient("key", base_url=fake.url, http=instant_session(ManualClock()), api_version="v3")
    items = list(v3.search("*", rows=10))
    assert len(items) == 24 and fake.state.logged("/record/v3/search.json")
    with pytest.raises(ValueError):
        SearchApiClient("key", api_version="v4")


def test_record_v3_json_ld_parses_to_the_same_record_as_v2(fake):
    v2 = SearchApiClient("key", base_url=fake.url, http=instant_session(ManualClock()))
    v3 = SearchApiClient("key", base_url=fake.url, http=instant_session(ManualClock()), api_version="v3")
    for rid in ("/9200999/artsnap_demo_004", "/9200999/artsnap_demo_017", "/9200999/artsnap_demo_022"):
        a, b = v2.record(rid), v3.record(rid)
        assert (a.id, a.type, a.title(), a.rights, a.edm_is_shown_by, a.edm_preview, a.landing_page) == (
            b.id,
            b.type,
            b.title(),
            b.rights,
            b.edm_is_shown_by,
            b.edm_preview,
            b.landing_page,
        )
        assert a.data_provider() == b.data_provider()
    logged = fake.state.logged("/record/v3/9200999")
    assert logged and all(r.api_key_header == "key" for r in logged)
    with pytest.raises(NotFound):
        v3.record("/9200999/nope")


def test_record_v3_json_ld_shape(fake, client):
    title = client.record("/9200999/artsnap_demo_004").title()
    payload = requests.get(
        f"{fake.url}/record/v3/9200999/artsnap_demo_004.json",
        headers={"X-Api-Key": "k", "Accept": "application/ld+json"},
        timeout=5,
    ).json()
    assert payload["id"] == "http://data.europeana.eu/item/9200999/artsnap_demo_004"
    assert payload["type"] == "ProvidedCHO" and payload["title"] == {"en": title}
    aggregation = payload["isAggregatedBy"]
    assert aggregation["isShownBy"]["type"] == "WebResource" and aggregation["rights"]["id"].startswith("http://")
    europeana = next(p["proxyIn"] for p in payload["proxies"] if p["europeanaProxy"])
    assert europeana["type"] == "EuropeanaAggregation" and europeana["preview"]["id"].endswith("/preview.png")


def test_real_record_fixtures_read_the_same_through_v2_and_v3(fixture_fake):
    v2 = SearchApiClient("key", base_url=fixture_fake.url, http=instant_session(ManualClock()))
    v3 = SearchApiClient("key", base_url=fixture_fake.url, http=instant_session(ManualClock()), api_version="v3")
    records = fixture_fake.state.records.all()
    assert len(records) == 41
    for stored in records:
        a, b = v2.record(stored.record_id), v3.record(stored.record_id)
        assert (a.id, a.title(), a.rights, a.edm_is_shown_by, a.edm_preview, a.landing_page) == (
            b.id,
            b.title(),
            b.rights,
            b.edm_is_shown_by,
            b.edm_preview,
            b.landing_page,
        ), stored.record_id
        assert a.data_provider() == b.data_provider(), stored.record_id
        assert not b.edm_is_shown_by or any(w.about == b.edm_is_shown_by for w in b.web_resources)
    v3_search = list(v3.search("*", rows=10))
    assert len(v3_search) == 41


def test_record_v3_json_ld_written_the_way_record_api_serialises_it():
    # shapes of europeana/record-api's Jackson serializers: LanguageMapSerializer ("@none"),
    # Literal/LanguageLiteral values, dereferenced references (ObjectReferenceSerializer),
    # CompactSerializer strings, the Europeana aggregation as the europeana proxy's proxyIn
    payload = {
        "@context": "http://www.europeana.eu/schemas/context/edm.jsonld",
        "id": "http://data.europeana.eu/item/90402/RP_P_1984_87",
        "type": "ProvidedCHO",
        "title": {"nl": "Gezicht op Delft", "@none": ["View of Delft"]},
        "edmType": "IMAGE",
        "proxies": [
            {
                "id": "http://data.europeana.eu/proxy/provider/90402/RP_P_1984_87",
                "type": "Proxy",
                "europeanaProxy": False,
            },
            {
                "id": "http://data.europeana.eu/proxy/europeana/90402/RP_P_1984_87",
                "type": "Proxy",
                "europeanaProxy": True,
                "proxyIn": {
                    "id": "http://data.europeana.eu/aggregation/europeana/90402/RP_P_1984_87",
                    "type": "EuropeanaAggregation",
                    "preview": {"id": "https://api.europeana.eu/thumbnail/v2/url.json?uri=x", "type": "WebResource"},
                    "landingPage": "https://www.europeana.eu/item/90402/RP_P_1984_87",
                },
            },
        ],
        "isAggregatedBy": {
            "id": "http://data.europeana.eu/aggregation/provider/90402/RP_P_1984_87",
            "type": "Aggregation",
            "dataProvider": {
                "id": "http://data.europeana.eu/organization/1",
                "type": "Organization",
                "prefLabel": {"en": "Rijksmuseum"},
            },
            "provider": {"value": "Rijksmuseum"},
            "isShownBy": {
                "id": "https://lh3.example/RP-P-1984-87.jpg",
                "type": "WebResource",
                "techMeta": {"hasMimeType": "image/jpeg", "width": 2500, "height": 1800},
            },
            "rights": {"id": "http://creativecommons.org/publicdomain/mark/1.0/", "type": "License"},
            "aggregatedCHO": "http://data.europeana.eu/item/90402/RP_P_1984_87",
        },
    }
    record = EuropeanaRecord.from_jsonld(payload)
    assert record.id == "/90402/RP_P_1984_87" and record.type == "IMAGE"
    assert record.title() == "View of Delft" and record.title("nl") == "Gezicht op Delft"
    assert record.edm_is_shown_by == "https://lh3.example/RP-P-1984-87.jpg"
    assert record.web_resources[0].mime_type == "image/jpeg" and record.web_resources[0].width == 2500
    assert record.rights == "http://creativecommons.org/publicdomain/mark/1.0/"
    assert record.data_provider() == "Rijksmuseum"
    assert record.edm_preview.startswith("https://api.europeana.eu/thumbnail/v2/")
    assert record.landing_page == "https://www.europeana.eu/item/90402/RP_P_1984_87"
    with pytest.raises(ValueError):
        EuropeanaRecord.from_jsonld({"type": "ProvidedCHO"})
