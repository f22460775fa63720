"""WITH client against the fake WITH over real HTTP: login, re-login, annotations, collections."""

from __future__ import annotations

import pytest
import requests

from europeana_sync.errors import (
    AuthenticationError,
    BadRequest,
    CredentialsError,
    Forbidden,
    LoginRefused,
    RetriesExhausted,
)
from europeana_sync.exit_codes import EXIT_CONFIG, exit_code_for
from europeana_sync.fake import FakeServer
from europeana_sync.fake.testing import instant_session
from europeana_sync.with_api import WithClient

WD_BAROQUE = "http://www.wikidata.org/entity/Q37853"
RECORD = "/9200999/artsnap_demo_001"


@pytest.fixture
def client(fake, clock):
    return WithClient(
        fake.endpoints.with_api, username="curator@artsnap.test", password="with-password", http=instant_session(clock)
    )


def with_statuses(fake: FakeServer, path: str) -> list[int]:
    return [r.status for r in fake.state.logged(f"/with{path}")]


def test_login_is_lazy_and_happens_once(fake, client):
    first = client.add_annotation(external_id=RECORD, body_uri=WD_BAROQUE, label="baroque", confidence=0.91)
    client.add_annotation(external_id=RECORD, body_uri="http://www.wikidata.org/entity/Q40415", label="impressionism")
    assert client.session.logins == 1 and client.user.email == "curator@artsnap.test"
    assert first.external_id == RECORD and first.body_uri == WD_BAROQUE
    assert first.label == "baroque" and first.confidence == pytest.approx(0.91)
    assert first.generator == "artsnap"
    assert with_statuses(fake, "/user/login") == [200]


def test_expired_session_relogs_in_once_and_write_succeeds(fake, client):
    client.add_annotation(external_id=RECORD, body_uri=WD_BAROQUE, label="baroque")
    assert requests.post(f"{fake.url}/_fake/with/sessions/expire", timeout=5).json()["expired"] == 1
    second = client.add_annotation(external_id="/9200999/artsnap_demo_008", body_uri=WD_BAROQUE, label="baroque")
    assert second.external_id == "/9200999/artsnap_demo_008"
    assert with_statuses(fake, "/record/annotation") == [200, 400, 200]
    assert with_statuses(fake, "/user/login") == [200, 200]
    assert client.session.logins == 2


def test_session_that_cannot_be_renewed_is_an_authentication_error(fake, client):
    fake.set_faults(with_session_seconds=0)  # every session is born expired
    with pytest.raises(AuthenticationError, match="after one refresh"):
        client.add_annotation(external_id=RECORD, body_uri=WD_BAROQUE, label="baroque")
    assert with_statuses(fake, "/record/annotation") == [400, 400]


def test_wrong_password_is_a_refused_login_not_a_retry(fake, clock):
    client = WithClient(
        fake.endpoints.with_api, username="curator@artsnap.test", password="nope", http=instant_session(clock)
    )
    with pytest.raises(LoginRefused, match="password: Invalid Password") as caught:
        client.login()
    assert isinstance(caught.value, CredentialsError) and exit_code_for(caught.value) == EXIT_CONFIG
    assert clock.sleeps == []


def test_login_by_username_is_sent_as_email_as_with_reads_it(fake, clock):
    # Defect 1: UserManager.login reads only "email" (and looks it up as an email, then as a
    # username); {"username": ...} was answered "Need Email or Username".
    client = WithClient(
        fake.endpoints.with_api, username="curator", password="with-password", http=instant_session(clock)
    )
    user = client.login()
    assert user.email == "curator@artsnap.test" and user.username == "curator"
    assert with_statuses(fake, "/user/login") == [200]


def test_the_fake_reads_only_the_email_key_like_with(fake):
    url = f"{fake.url}/with/user/login"
    by_username_key = requests.post(url, json={"username": "curator", "password": "with-password"}, timeout=5)
    assert by_username_key.status_code == 400
    assert by_username_key.json() == {"error": {"email": "Need Email or Username"}}
    unknown = requests.post(url, json={"email": "nobody", "password": "x"}, timeout=5)
    assert unknown.json() == {"error": {"email": "Invalid Email Address or Username"}}


def test_a_refused_login_is_not_tried_again_for_every_request(fake, clock):
    client = WithClient(
        fake.endpoints.with_api, username="curator@artsnap.test", password="nope", http=instant_session(clock)
    )
    for record in ("/9200999/artsnap_demo_001", "/9200999/artsnap_demo_002"):
        with pytest.raises(LoginRefused):
            client.add_annotation(external_id=record, body_uri=WD_BAROQUE, label="baroque")
    assert with_statuses(fake, "/user/login") == [400]
    assert fake.state.logged("/with/record") == []


# -- deleting after the session expired (defect 9) --------------------------------------------


def test_delete_after_session_expiry_relogs_in_and_deletes(fake, client):
    created = client.add_annotation(external_id=RECORD, body_uri=WD_BAROQUE, label="baroque")
    fake.state.with_store.expire_sessions()
    assert client.delete_annotation(created.id) is True
    # WITH answers the expired delete with an empty 500 (generator "artsnap" has no second
    # word), never "not logged in"; /user/me confirms the session is gone
    assert with_statuses(fake, f"/annotation/{created.id}") == [500, 200]
    assert with_statuses(fake, "/user/me") == [400]
    assert client.session.logins == 2
    assert fake.state.with_store.all_annotations() == []


def test_delete_refused_while_logged_in_is_raised_not_retried_with_a_new_login(fake, client, clock):
    other = WithClient(
        fake.endpoints.with_api,
        username="curator@artsnap.test",
        password="with-password",
        http=instant_session(clock),
    )
    created = other.add_annotation(
        external_id=RECORD, body_uri=WD_BAROQUE, label="baroque", generator="CrowdHeritage campaign"
    )
    fake.state.with_store.all_annotations()[0].annotators[:] = ["someone-else"]
    client.login()
    with pytest.raises(Forbidden):
        client.delete_annotation(created.id)
    assert with_statuses(fake, f"/annotation/{created.id}") == [403]
    assert with_statuses(fake, "/user/me") == [200] and client.session.logins == 1


def test_the_fake_answers_an_expired_delete_like_with(fake, client):
    created = client.add_annotation(external_id=RECORD, body_uri=WD_BAROQUE, label="baroque")
    response = requests.delete(f"{fake.url}/with/annotation/{created.id}", timeout=5)  # no session cookie
    assert response.status_code == 500 and response.content == b""
    assert requests.get(f"{fake.url}/with/user/me", timeout=5).status_code == 400


def test_adding_the_same_annotation_twice_returns_the_existing_one(fake, client):
    first = client.add_annotation(external_id=RECORD, body_uri=WD_BAROQUE, label="baroque")
    again = client.add_annotation(external_id=RECORD, body_uri=WD_BAROQUE, label="baroque")
    assert first.id == again.id
    assert len(fake.state.with_store.all_annotations()) == 1


def test_list_annotations_of_a_record(client):
    created = client.add_annotation(external_id=RECORD, body_uri=WD_BAROQUE, label="baroque")
    listed = client.list_annotations(created.record_id)
    assert [a.id for a in listed] == [created.id]
    assert listed[0].body_uri == WD_BAROQUE


def test_collection_records_page_to_the_end(fake, client):
    collection_id = fake.state.with_store.collection_id
    records = list(client.collection_records(collection_id, page_size=5))
    assert len(records) == 24 == len({r.id for r in records})
    assert records[0].external_id == "/9200999/artsnap_demo_000"
    assert records[0].image_url.startswith(fake.url + "/fake-media/")
    assert len(fake.state.logged(f"/with/collection/{collection_id}/list")) == 5


def test_unknown_record_is_refused(client):
    with pytest.raises(BadRequest, match="Record not found"):
        client.add_annotation(external_id="/1/nope", body_uri=WD_BAROQUE, label="baroque")
    with pytest.raises(ValueError):
        client.add_annotation(body_uri=WD_BAROQUE, label="baroque")


def test_with_5xx_is_retried_then_succeeds(fake, client, clock):
    fake.set_faults(server_errors=2, paths=["/with/record"])
    created = client.add_annotation(external_id=RECORD, body_uri=WD_BAROQUE, label="baroque")
    assert created.id
    assert with_statuses(fake, "/record/annotation") == [503, 503, 200]
    assert len(clock.sleeps) == 2


def test_with_5xx_forever_is_reported(fake, clock):
    client = WithClient(
        fake.endpoints.with_api,
        username="curator@artsnap.test",
        password="with-password",
        http=instant_session(clock, max_attempts=3),
    )
    fake.set_faults(server_errors=-1, paths=["/with/record"])
    with pytest.raises(RetriesExhausted):
        client.add_annotation(external_id=RECORD, body_uri=WD_BAROQUE, label="baroque")
    assert with_statuses(fake, "/record/annotation") == [503, 503, 503]
