"""The fake itself (admin endpoints, data sources) and the small id/rights helpers."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from PIL import Image

from europeana_sync.fake import FakeServer, FaultConfig, create_fake_app
from europeana_sync.fake.__main__ import main as fake_main
from europeana_sync.record_ids import is_item_uri, item_uri, landing_page, normalize_record_id, split_record_id
from europeana_sync.rights import Reusability, licence_code, reusability

KEY = {"X-Api-Key": "k"}


def test_without_fixtures_the_synthetic_set_is_served(tmp_path):
    assert create_fake_app().extensions["europeana_fake"].source == "synthetic"
    missing = tmp_path / "nope"
    assert create_fake_app(missing).extensions["europeana_fake"].source == "synthetic"


def test_with_fixtures_the_real_responses_are_served(europeana_fixtures):
    state = create_fake_app(europeana_fixtures).extensions["europeana_fake"]
    assert state.source.startswith("fixtures:") and len(state.records) == 41


def test_faults_switch_at_run_time_through_the_admin_endpoint(fake):
    url = f"{fake.url}/record/v2/search.json"
    assert requests.post(f"{fake.url}/_fake/faults", json={"server_errors": 1}, timeout=5).status_code == 200
    assert requests.get(url, params={"query": "*"}, headers=KEY, timeout=5).status_code == 503
    assert requests.get(url, params={"query": "*"}, headers=KEY, timeout=5).status_code == 200
    snapshot = requests.get(f"{fake.url}/_fake/faults", timeout=5).json()
    assert snapshot["injected"]["server_errors"] == 1 and snapshot["config"]["server_errors"] == 0
    typo = requests.post(f"{fake.url}/_fake/faults", json={"server_error": 1}, timeout=5)
    assert typo.status_code == 400 and "server_error" in typo.json()["error"]
    requests.post(f"{fake.url}/_fake/faults", json={"server_errors": -1}, timeout=5)
    assert requests.delete(f"{fake.url}/_fake/faults", timeout=5).json()["config"]["server_errors"] == 0


def test_faults_set_at_creation_and_limited_to_paths():
    with FakeServer(faults=FaultConfig(rate_limited_requests=1, paths=["/annotation"])) as fake:
        search = requests.get(f"{fake.url}/record/v2/search.json", params={"query": "*"}, headers=KEY, timeout=5)
        assert search.status_code == 200
        limited = requests.get(f"{fake.url}/annotation/search", params={"query": "*:*"}, headers=KEY, timeout=5)
        assert limited.status_code == 429
        assert limited.headers["RateLimit"] == '"personal";r=0;t=2'


def test_search_errors_look_like_the_api(fake):
    url = f"{fake.url}/record/v2/search.json"
    assert requests.get(url, params={"query": "*"}, timeout=5).status_code == 401
    first = requests.get(url, params={"query": "*", "rows": 5, "cursor": "*"}, headers=KEY, timeout=5).json()
    foreign = requests.get(url, params={"query": "baroque", "cursor": first["nextCursor"]}, headers=KEY, timeout=5)
    assert foreign.status_code == 400 and foreign.json()["success"] is False
    big = requests.get(url, params={"query": "*", "rows": 1000}, headers=KEY, timeout=5).json()
    assert big["itemsCount"] == 24  # rows are capped at 100, like the real API


def test_media_are_pngs_and_absent_images_are_404(fake):
    full = requests.get(f"{fake.url}/fake-media/9200999/artsnap_demo_004/full.png", timeout=5)
    preview = requests.get(f"{fake.url}/fake-media/9200999/artsnap_demo_004/preview.png", timeout=5)
    assert Image.open(io.BytesIO(full.content)).size == (320, 240)
    assert Image.open(io.BytesIO(preview.content)).size == (160, 120)
    assert requests.get(f"{fake.url}/fake-media/9200999/artsnap_demo_022/full.png", timeout=5).status_code == 404
    assert requests.get(f"{fake.url}/fake-media/9200999/artsnap_demo_017/full.png", timeout=5).status_code == 404
    assert requests.get(f"{fake.url}/fake-media/9200999/artsnap_demo_017/preview.png", timeout=5).status_code == 200


def test_info_lists_endpoints_and_demo_credentials(fake):
    info = requests.get(f"{fake.url}/_fake/info", timeout=5).json()
    assert info["endpoints"]["with_api"] == fake.endpoints.with_api
    assert info["credentials"]["oidc_clients"]["artsnap-reader"]["write"] is False


def test_cli_rejects_bad_fault_json():
    with pytest.raises(SystemExit):
        fake_main(["--faults", "{not json"])


def test_clients_do_not_import_flask_or_backend():
    code = (
        "import sys, europeana_sync.search_api, europeana_sync.annotations_api, "
        "europeana_sync.with_api, europeana_sync.oidc, europeana_sync.edm, europeana_sync.rights; "
        "bad = [m for m in sys.modules if m == 'flask' or m.startswith('backend')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])


# -- record ids and rights -------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    [
        "/09102/_UEDIN_214",
        "09102/_UEDIN_214",
        "http://data.europeana.eu/item/09102/_UEDIN_214",
        "https://www.europeana.eu/item/09102/_UEDIN_214",
        "https://www.europeana.eu/en/item/09102/_UEDIN_214?x=1",
        "https://api.europeana.eu/record/v2/09102/_UEDIN_214.json",
    ],
)
def test_record_id_spellings_normalise(spelling):
    assert normalize_record_id(spelling) == "/09102/_UEDIN_214"


@pytest.mark.parametrize("bad", ["", "/only-dataset", "/a/b/c", "/a/has space", "http://example.org/item/1/2"])
def test_bad_record_ids_are_refused(bad):
    with pytest.raises(ValueError):
        normalize_record_id(bad)


def test_record_id_uris():
    assert item_uri("/1/a") == "http://data.europeana.eu/item/1/a"
    assert is_item_uri("http://data.europeana.eu/item/1/a")
    assert not is_item_uri("https://data.europeana.eu/item/1/a")
    assert split_record_id("/1/a") == ("1", "a")
    assert landing_page("/1/a") == "https://www.europeana.eu/item/1/a"


@pytest.mark.parametrize(
    "uri, expected, code",
    [
        ("http://creativecommons.org/publicdomain/zero/1.0/", Reusability.OPEN, "CC0"),
        ("http://creativecommons.org/publicdomain/mark/1.0/", Reusability.OPEN, "PDM"),
        ("https://creativecommons.org/licenses/by-sa/4.0/deed.de", Reusability.OPEN, "CC-BY-SA"),
        ("http://creativecommons.org/licenses/by/3.0", Reusability.OPEN, "CC-BY"),
        ("http://creativecommons.org/licenses/by-nc-nd/4.0/", Reusability.RESTRICTED, "CC-BY-NC-ND"),
        ("http://rightsstatements.org/vocab/InC-EDU/1.0/", Reusability.RESTRICTED, "InC-EDU"),
        ("http://rightsstatements.org/vocab/InC/1.0/", Reusability.PERMISSION, "InC"),
        ("http://rightsstatements.org/vocab/CNE/1.0/", Reusability.PERMISSION, "CNE"),
        # corelib's categorizer files unknown URIs under none of the three classes
        ("http://example.org/my-licence", Reusability.UNCATEGORIZED, None),
        (None, Reusability.UNCATEGORIZED, None),
    ],
)
def test_rights_classification(uri, expected, code):
    assert reusability(uri) is expected
    assert licence_code(uri) == code
