"""Annotations client and OIDC token provider against the fake over real HTTP."""

from __future__ import annotations

import json

import pytest
import requests

from europeana_sync.annotations_api import (
    AnnotationsClient,
    annotation_number,
    annotation_uri,
    duplicate_ids,
    tagging_annotation,
)
from europeana_sync.errors import (
    AnnotationValidationError,
    AuthenticationError,
    BadRequest,
    DuplicateAnnotation,
    Forbidden,
    Gone,
    MissingScope,
)
from europeana_sync.fake import FakeAccounts, FakeClientApp, FakeServer
from europeana_sync.fake.annotation_routes import SCOPE_REFUSAL
from europeana_sync.fake.testing import instant_session
from europeana_sync.oidc import OidcTokenProvider

WD_IMPRESSIONISM = "http://www.wikidata.org/entity/Q40415"
RECORD = "/9200999/artsnap_demo_003"
OTHER_RECORD = "/9200999/artsnap_demo_010"


@pytest.fixture
def tokens(fake, clock):
    return OidcTokenProvider(
        fake.endpoints.token_url, "artsnap-curator", "curator-secret", http=instant_session(clock), clock=clock
    )


@pytest.fixture
def client(fake, clock, tokens):
    return AnnotationsClient("key", tokens, base_url=fake.url, http=instant_session(clock))


def statuses(fake: FakeServer, prefix: str = "/annotation") -> list[int]:
    return [r.status for r in fake.state.logged(prefix)]


# -- request bodies ----------------------------------------------------------------------------


def test_request_bodies_are_exactly_the_fixture_shapes(europeana_fixtures):
    semantic = json.loads((europeana_fixtures / "annotation_requests/semantictag/simple_minimal.json").read_text())
    semantic.pop("@context")
    assert tagging_annotation("/09102/_UEDIN_214", "http://sws.geonames.org/2988507") == semantic
    plain = json.loads((europeana_fixtures / "annotation_requests/tag/minimal.json").read_text())
    assert tagging_annotation("/000002/_UEDIN_214", "trombone") == plain


def test_body_shapes_without_fixtures():
    assert tagging_annotation("http://data.europeana.eu/item/1/a", WD_IMPRESSIONISM) == {
        "motivation": "tagging",
        "body": WD_IMPRESSIONISM,
        "target": "http://data.europeana.eu/item/1/a",
    }
    assert tagging_annotation("/1/a", ' "black and white" ', language="en")["body"] == {
        "value": "black and white",
        "language": "en",
    }


@pytest.mark.parametrize(
    "target, body, problem",
    [
        ("not a record", WD_IMPRESSIONISM, "record id"),
        ("http://example.org/item/1/a", WD_IMPRESSIONISM, "record id"),
        (RECORD, "x" * 65, "at most 64"),
        (RECORD, '""', "empty"),
        (RECORD, "ftp://vocab.example/term", "URI without spaces"),
        (RECORD, "http://vocab.getty.edu/aat/3000 21503", "URI without spaces"),
    ],
)
def test_invalid_annotations_are_refused_before_sending(fake, client, target, body, problem):
    with pytest.raises(AnnotationValidationError, match=problem):
        client.create_tag(target, body)
    assert statuses(fake) == []


def test_tag_of_exactly_64_characters_is_accepted(client):
    assert client.create_tag(RECORD, "y" * 64).startswith("http://data.europeana.eu/annotation/")


def test_server_validation_messages_reach_the_caller(client):
    with pytest.raises(BadRequest) as caught:
        client.create({"motivation": "tagging", "body": WD_IMPRESSIONISM, "target": "https://example.org/x"})
    assert caught.value.message == (
        "Invalid annotation target base url, which should contain: http://data.europeana.eu/item."
    )
    with pytest.raises(BadRequest) as caught:
        client.create(
            {
                "motivation": "tagging",
                "body": {"value": "z" * 65},
                "target": "http://data.europeana.eu/item/9200999/artsnap_demo_003",
            }
        )
    assert caught.value.message == "Invalid tag size. Must be shorter then 64 characters! tag.size: 65"


# -- create / get / duplicates / delete ---------------------------------------------------------


def test_create_tag_returns_id_and_server_stores_our_body(fake, client):
    annotation_id = client.create_tag(RECORD, WD_IMPRESSIONISM)
    stored = client.get(annotation_id)
    assert stored.id == annotation_id
    assert stored.motivation == "tagging" and stored.body_uri == WD_IMPRESSIONISM
    assert stored.target == "http://data.europeana.eu/item/9200999/artsnap_demo_003"
    assert stored.target_record_id == RECORD
    assert stored.creator.endswith("/artsnap-curator")  # set by the server from the token
    assert statuses(fake) == [201, 200]


def test_duplicate_refusal_surfaces_with_the_existing_id(fake, client):
    first = client.create_tag(RECORD, WD_IMPRESSIONISM)
    with pytest.raises(DuplicateAnnotation) as caught:
        client.create_tag(RECORD, WD_IMPRESSIONISM)
    assert caught.value.existing_ids == (first,)
    assert "Found duplicate annotations with the ids:" in caught.value.message
    assert statuses(fake) == [201, 400]  # a refusal is not retried
    client.create_tag(OTHER_RECORD, WD_IMPRESSIONISM)  # same body, other record: fine


def test_plain_tags_are_normalised_like_the_server_so_duplicates_match(client):
    first = client.create_tag(RECORD, '"black and white"')
    assert client.get(first).body_value == "black and white"
    with pytest.raises(DuplicateAnnotation) as caught:
        client.create_tag(RECORD, "  black and white ")
    assert caught.value.existing_ids == (first,)


def test_duplicate_refusal_fault_reports_someone_elses_annotation(fake, client):
    fake.set_faults(duplicate_refusals=1)
    with pytest.raises(DuplicateAnnotation) as caught:
        client.create_tag(RECORD, WD_IMPRESSIONISM)
    (existing,) = caught.value.existing_ids
    assert client.get(existing).creator.endswith("/another-curator")
    assert client.create_tag(OTHER_RECORD, WD_IMPRESSIONISM)  # fault used up


def test_delete_is_soft_and_a_later_get_is_410(fake, client):
    annotation_id = client.create_tag(RECORD, WD_IMPRESSIONISM)
    assert client.delete(annotation_id) is True
    with pytest.raises(Gone):
        client.get(annotation_id)
    assert client.delete(annotation_id) is False  # repeated reject is harmless
    assert statuses(fake) == [201, 204, 410, 410]
    # the tag can be made again once deleted (the curator changed their mind back)
    assert client.create_tag(RECORD, WD_IMPRESSIONISM) != annotation_id


def test_deleting_someone_elses_annotation_is_forbidden(fake, client):
    fake.set_faults(duplicate_refusals=1)
    with pytest.raises(DuplicateAnnotation) as caught:
        client.create_tag(RECORD, WD_IMPRESSIONISM)
    with pytest.raises(Forbidden):
        client.delete(caught.value.existing_ids[0])


def test_search_pages_through_all_matches(fake, client):
    for n in range(7):
        client.create_tag(RECORD, f"tag {n}")
    client.create_tag(OTHER_RECORD, "elsewhere")
    found = list(client.search(f'target_record_id:"{RECORD}"', qf=["motivation:tagging"], page_size=3))
    assert sorted(a.body_value for a in found) == [f"tag {n}" for n in range(7)]
    assert len(fake.state.logged("/annotation/search")) == 3
    assert [a.body_value for a in client.tags_on(OTHER_RECORD)] == ["elsewhere"]


def test_id_helpers_and_duplicate_message_parsing():
    assert (
        annotation_uri(12)
        == annotation_uri("http://data.europeana.eu/annotation/12")
        == "http://data.europeana.eu/annotation/12"
    )
    assert annotation_number("http://data.europeana.eu/annotation/12/") == "12"
    assert duplicate_ids("Found duplicate annotations with the ids: 12,15") == [annotation_uri(12), annotation_uri(15)]
    assert duplicate_ids('{"error":"Found duplicate annotations with the ids: [7]"}') == [annotation_uri(7)]
    assert duplicate_ids("Invalid tag size") is None


# -- tokens ------------------------------------------------------------------------------------


def test_expired_token_is_refreshed_once_then_write_succeeds(fake, client, tokens):
    client.create_tag(RECORD, "first")
    assert requests.post(f"{fake.url}/_fake/tokens/expire", timeout=5).json()["expired"] == 1
    client.create_tag(RECORD, "second")
    assert statuses(fake) == [201, 401, 201]
    assert tokens.tokens_fetched == 2
    token_calls = fake.state.logged("/auth/")
    assert [r.status for r in token_calls] == [200, 200]


def test_token_rejected_again_after_refresh_is_an_authentication_error(fake, client):
    fake.set_faults(token_lifetime_seconds=0)  # every token is born expired
    with pytest.raises(AuthenticationError, match="after one refresh"):
        client.create_tag(RECORD, "never")
    assert statuses(fake) == [401, 401]


def test_token_is_renewed_before_it_expires(fake, clock, tokens, client):
    client.create_tag(RECORD, "one")
    clock.advance(3600 - 10)  # inside the 30 s leeway
    client.create_tag(RECORD, "two")
    assert tokens.tokens_fetched == 2
    assert 401 not in statuses(fake)


def test_wrong_client_secret_fails_fast(fake, clock):
    bad = OidcTokenProvider(fake.endpoints.token_url, "artsnap-curator", "wrong", http=instant_session(clock))
    client = AnnotationsClient("key", bad, base_url=fake.url, http=instant_session(clock))
    with pytest.raises(AuthenticationError, match="invalid_client|Invalid client"):
        client.create_tag(RECORD, "x")
    assert clock.sleeps == [] and statuses(fake) == []


def test_password_grant_and_stale_refresh_token_fall_back(fake, clock):
    user = OidcTokenProvider(
        fake.endpoints.token_url,
        "artsnap-curator",
        "curator-secret",
        username="curator",
        password="curator-password",
        refresh_token="long-gone",
        http=instant_session(clock),
    )
    client = AnnotationsClient("key", user, base_url=fake.url, http=instant_session(clock))
    annotation_id = client.create_tag(RECORD, WD_IMPRESSIONISM)
    assert client.get(annotation_id).creator.endswith("/curator")
    assert [r.status for r in fake.state.logged("/auth/")] == [400, 200]  # refresh refused, then password


def test_reads_need_no_token(fake, clock, client):
    annotation_id = client.create_tag(RECORD, WD_IMPRESSIONISM)
    reader = AnnotationsClient("key", base_url=fake.url, http=instant_session(clock))
    assert reader.get(annotation_id).body_uri == WD_IMPRESSIONISM
    with pytest.raises(RuntimeError, match="token provider"):
        reader.create_tag(RECORD, "x")


# -- the annotations scope (defect 2) ----------------------------------------------------------


def test_tokens_ask_for_the_annotations_scope_by_default(fake, tokens, client):
    client.create_tag(RECORD, WD_IMPRESSIONISM)
    assert tokens.has_scope("annotations") and "annotations" in tokens.claims()["scope"].split()


def test_a_token_without_the_annotations_scope_cannot_write(fake, clock):
    unscoped = OidcTokenProvider(
        fake.endpoints.token_url, "artsnap-curator", "curator-secret", scope=None, http=instant_session(clock)
    )
    client = AnnotationsClient("key", unscoped, base_url=fake.url, http=instant_session(clock))
    with pytest.raises(MissingScope) as caught:
        client.create_tag(RECORD, WD_IMPRESSIONISM)
    error = caught.value
    assert isinstance(error, Forbidden) and error.granted == "email profile"
    assert "no 'annotations' scope" in error.message
    assert "resource access not granted" in error.message  # the service's own words
    assert statuses(fake) == [403] and fake.state.annotations.all() == []


def test_the_fake_refuses_writes_with_a_token_lacking_the_scope(fake):
    token = requests.post(
        fake.endpoints.token_url,
        data={"grant_type": "client_credentials", "client_id": "artsnap-curator", "client_secret": "curator-secret"},
        timeout=5,
    ).json()
    assert token["scope"] == "profile email"
    refused = requests.post(
        f"{fake.url}/annotation/",
        json=tagging_annotation(RECORD, WD_IMPRESSIONISM),
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=5,
    )
    assert refused.status_code == 403
    assert refused.json()["message"] == SCOPE_REFUSAL


def test_a_client_not_granted_the_scope_gets_a_token_without_it(clock):
    accounts = FakeAccounts(clients={"plain": FakeClientApp("plain", "s", can_write=True, optional_scopes=frozenset())})
    with FakeServer(accounts=accounts) as fake:
        tokens = OidcTokenProvider(fake.endpoints.token_url, "plain", "s", http=instant_session(clock))
        assert not tokens.has_scope("annotations") and tokens.granted_scopes() == {"profile", "email"}


def test_our_identity_comes_from_the_token_before_anything_is_created(fake, tokens, client):
    me = client.creator_uri()
    assert me == "http://data.europeana.eu/user/artsnap-curator"
    annotation_id = client.create_tag(RECORD, WD_IMPRESSIONISM)
    assert client.get(annotation_id).creator == me
