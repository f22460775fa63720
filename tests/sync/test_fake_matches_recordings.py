"""The fake Europeana services answer as the real ones did: checked against recordings.

The other sync tests check our clients against our own fake, so a fake that drifts from the
real API would let both drift together. Here the fake itself is compared with what the real
services were recorded doing (``../shared/fixtures/europeana``, see SOURCES.md there):

* Search and Record API responses: the fake's keys and value kinds against real responses;
* the Annotations API: real request bodies from europeana/annotation's integration tests,
  with the statuses those tests expect (AnnotationCreateIT, annotation-tests commit 0b4b12d7)
  and the one error wording they record;
* the token endpoint: no recording exists, so its answer is checked against RFC 6749.

WITH has no recordings at all; its fake is not covered here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from europeana_sync.fake import FakeServer

KEY = {"X-Api-Key": "k"}
TOKEN_PATH = "/auth/realms/europeana/protocol/openid-connect/token"

#: Request bodies the real API answered 201 for (AnnotationCreateIT: createTagBodyText,
#: createTagMinimal, createTagStandard, createGeoTag, createCanonicalTag, createViaTagString,
#: createViaTagArray, createAnnotationAgentDetails, createSemanticTag{SimpleMinimal,
#: SimpleStandard, SpecificMinimal, SpecificStandard, Entity, AgentEntity, WithVcardAddress}).
CREATED = [
    "tag/bodyText.json",
    "tag/minimal.json",
    "tag/standard.json",
    "tag/geotag.json",
    "tag/canonical.json",
    "tag/via_string.json",
    "tag/via_array.json",
    "tag/full_agent.json",
    "semantictag/simple_minimal.json",
    "semantictag/simple_standard.json",
    "semantictag/specific_minimal.json",
    "semantictag/specific_standard.json",
    "semantictag/semantictag_entity.json",
    "semantictag/semantictag_agent_entity.json",
    "semantictag/vcard_address.json",
]
#: ... and 400 for (createWrongTag, createTagWithoutBody, createWrongGeoTagLat/Long,
#: createTaggingAnnoBodyAddressWithoutType/WithoutStreetAddress).
REFUSED = [
    "tag/wrong/minimal_wrong.json",
    "tag/wrong/without_body.json",
    "tag/wrong/geotag_wrong_lat.json",
    "tag/wrong/geotag_wrong_long.json",
    "tag/wrong/body_address_no_type.json",
    "tag/wrong/body_address_no_street_address.json",
]
#: Created once, refused the second time (checkAnnotationDuplicatesCreateTags / ...SemanticTags).
DUPLICATES_REFUSED = ["tag/minimal.json", "semantictag/simple_minimal.json"]


@pytest.fixture
def writer() -> Iterator[tuple[FakeServer, dict[str, str]]]:
    """A fresh fake (empty annotation store) and a write-capable bearer header."""
    with FakeServer() as fake:
        token = requests.post(
            fake.url + TOKEN_PATH,
            data={
                "grant_type": "client_credentials",
                "client_id": "artsnap-curator",
                "client_secret": "curator-secret",
                "scope": "annotations",  # writes need it (api-commons OAuthUtils.verifyScope)
            },
            timeout=10,
        ).json()["access_token"]
        yield fake, {"Authorization": f"Bearer {token}"}


def _request_body(fixtures: Path, name: str) -> dict[str, Any]:
    return json.loads((fixtures / "annotation_requests" / name).read_text(encoding="utf-8"))


def _create(writer: tuple[FakeServer, dict[str, str]], body: dict[str, Any]) -> requests.Response:
    fake, headers = writer
    return requests.post(f"{fake.url}/annotation/", json=body, headers=headers, timeout=10)


@pytest.mark.parametrize("name", CREATED)
def test_fake_creates_what_the_real_api_created(europeana_fixtures: Path, writer, name: str) -> None:
    sent = _request_body(europeana_fixtures, name)
    resp = _create(writer, sent)
    assert resp.status_code == 201, (name, resp.status_code, resp.text[:300])
    made = resp.json()
    # The Web Annotation shape the API documents for a created annotation.
    assert made["type"] == "Annotation" and made["motivation"] == "tagging"
    assert made["id"].startswith("http://data.europeana.eu/annotation/") and resp.headers["Location"] == made["id"]
    assert made["target"] == (sent["target"] if isinstance(sent["target"], str) else sent["target"]["source"])
    assert isinstance(made["creator"], dict) and isinstance(made["generator"], dict)
    assert isinstance(made["created"], str) and made["created"].endswith("Z")
    if "body" in sent and isinstance(sent["body"], dict):
        assert {k: v for k, v in made["body"].items() if k != "value"} == {
            k: v for k, v in sent["body"].items() if k != "value"
        }
    fake, headers = writer
    read = requests.get(made["id"].replace("http://data.europeana.eu", fake.url), headers=KEY, timeout=10)
    assert read.status_code == 200 and read.json() == made


@pytest.mark.parametrize("name", REFUSED)
def test_fake_refuses_what_the_real_api_refused(europeana_fixtures: Path, writer, name: str) -> None:
    resp = _create(writer, _request_body(europeana_fixtures, name))
    assert resp.status_code == 400, (name, resp.status_code, resp.text[:300])
    body = resp.json()
    assert body["success"] is False and body["status"] == 400 and body["message"]
    fake, _ = writer
    assert requests.get(f"{fake.url}/_fake/annotations", timeout=10).json() in ([], {"annotations": []})


@pytest.mark.parametrize("name", DUPLICATES_REFUSED)
def test_a_second_identical_tag_is_refused_as_a_duplicate(europeana_fixtures: Path, writer, name: str) -> None:
    body = _request_body(europeana_fixtures, name)
    first = _create(writer, body)
    assert first.status_code == 201
    number = first.json()["id"].rsplit("/", 1)[1]
    again = _create(writer, body)
    assert again.status_code == 400
    assert again.json()["message"] == f"Found duplicate annotations with the ids: {number}"


def test_an_over_long_tag_is_refused_in_the_apis_words(europeana_fixtures: Path, writer) -> None:
    """AnnotationCreateIT.validationError records the message for a 170-character tag."""
    body = _request_body(europeana_fixtures, "tag/minimal.json")
    body["body"] = {"value": "t" * 170}
    resp = _create(writer, body)
    assert resp.status_code == 400
    assert resp.json()["message"] == "Invalid tag size. Must be shorter then 64 characters! tag.size: 170"


# -- Search and Record API ------------------------------------------------------------------


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"  # JSON has one number type; Solr scores come as 1 or 0.73
    return {str: "string", list: "list", dict: "object", type(None): "null"}[type(value)]


def _kinds(objects: list[dict[str, Any]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for obj in objects:
        for key, value in obj.items():
            out.setdefault(key, set()).add(_kind(value))
    return out


def _assert_like(fake: list[dict[str, Any]], real: list[dict[str, Any]], what: str) -> None:
    """Every key the fake sends, the real service sent too, with the same kind of value."""
    fake_kinds, real_kinds = _kinds(fake), _kinds(real)
    invented = sorted(set(fake_kinds) - set(real_kinds))
    assert not invented, f"{what}: the fake sends keys no recorded response has: {invented}"
    wrong = {k: (sorted(v), sorted(real_kinds[k])) for k, v in fake_kinds.items() if not v <= real_kinds[k]}
    assert not wrong, f"{what}: value kinds differ from the recordings (fake, real): {wrong}"


def _recorded(fixtures: Path, name: str) -> dict[str, Any]:
    return json.loads((fixtures / "search_record" / name).read_text(encoding="utf-8"))


def test_search_responses_have_the_recorded_shape(europeana_fixtures: Path, fake: FakeServer) -> None:
    real = [
        _recorded(europeana_fixtures, n) for n in ("europeana_example.json", "sample_search_results_additional.json")
    ]
    got = requests.get(
        f"{fake.url}/record/v2/search.json", params={"query": "*", "rows": 12, "cursor": "*"}, headers=KEY, timeout=10
    )
    assert got.status_code == 200
    page = got.json()
    _assert_like([page], real, "search response")
    assert set(real[0]) <= set(page), "the fake leaves out top-level keys of a cursor search"
    _assert_like(page["items"], [item for r in real for item in r["items"]], "search item")
    # What the pull reads from each item is there, as in the recording.
    for key in ("id", "guid", "title", "dataProvider", "provider", "rights", "edmPreview", "type", "link"):
        assert all(key in item for item in page["items"]), key


def test_record_responses_have_the_recorded_shape(europeana_fixtures: Path, fake: FakeServer) -> None:
    names = ("item_full.json", "item_not_first_webresource.json", "item_no_dimensions_any.json")
    real = [_recorded(europeana_fixtures, n) for n in names]
    first = requests.get(
        f"{fake.url}/record/v2/search.json", params={"query": "*", "rows": 1}, headers=KEY, timeout=10
    ).json()["items"][0]
    got = requests.get(f"{fake.url}/record/v2{first['id']}.json", headers=KEY, timeout=10)
    assert got.status_code == 200
    record = got.json()
    _assert_like([record], real, "record response")
    obj, real_objs = record["object"], [r["object"] for r in real]
    _assert_like([obj], real_objs, "record object")
    for key in ("proxies", "providedCHOs", "aggregations"):
        _assert_like(obj[key], [x for o in real_objs for x in o[key]], key)
    _assert_like([obj["europeanaAggregation"]], [o["europeanaAggregation"] for o in real_objs], "europeanaAggregation")
    real_aggs = [a for o in real_objs for a in o["aggregations"]]
    _assert_like(
        [w for a in obj["aggregations"] for w in a.get("webResources", [])],
        [w for a in real_aggs for w in a.get("webResources", [])],
        "webResources",
    )


def test_token_endpoint_answers_as_rfc_6749_says(fake: FakeServer) -> None:
    """No recording of Europeana's Keycloak exists here; its documented behaviour is the spec's."""
    url = fake.url + TOKEN_PATH
    ok = requests.post(
        url,
        data={"grant_type": "client_credentials", "client_id": "artsnap-curator", "client_secret": "curator-secret"},
        timeout=10,
    )
    assert ok.status_code == 200 and ok.headers["Content-Type"].startswith("application/json")
    token = ok.json()
    assert isinstance(token["access_token"], str) and token["access_token"]
    assert token["token_type"].lower() == "bearer"
    assert isinstance(token["expires_in"], int) and token["expires_in"] > 0  # section 5.1: seconds
    for form, status, error in (
        ({"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"}, 401, "invalid_client"),
        ({"grant_type": "magic", "client_id": "artsnap-curator", "client_secret": "curator-secret"}, 400, None),
        ({"grant_type": "refresh_token", "client_id": "artsnap-curator", "client_secret": "curator-secret"}, 400, None),
    ):
        bad = requests.post(url, data={**form, "refresh_token": "nope"} if "refresh" in form["grant_type"] else form)
        assert bad.status_code == status, (form, bad.status_code)
        body = bad.json()  # section 5.2: an "error" code from the spec's list
        assert body["error"] in {
            "invalid_request",
            "invalid_client",
            "invalid_grant",
            "unauthorized_client",
            "unsupported_grant_type",
            "invalid_scope",
        }
        assert error is None or body["error"] == error
