"""Push jobs against the fake Annotations API and WITH, with each fault switched on."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from backend.cli import main
from backend.engine.catalog.sync_store import LinkUpdate, SyncStore
from backend.sync.push import EXIT_STOPPED, PushOptions, push
from europeana_sync.exit_codes import EXIT_CONFIG
from europeana_sync.fake import FakeServer
from europeana_sync.vocabulary import SAMPLE_WIKIART_STYLES
from tests.sync.sync_support import (
    accept_all_machine_labels,
    europeana_target,
    live_tags,
    open_catalog,
    record_id,
    sample_mapping,
    seed_labelled_collection,
    with_target,
)

WD_BAROQUE = "http://www.wikidata.org/entity/Q37853"
COUNT = 8


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def store(data_dir):
    catalog = open_catalog(data_dir)
    yield SyncStore(catalog)
    catalog.close()


@pytest.fixture
def ids(store):
    items = seed_labelled_collection(store.catalog, count=COUNT)
    accept_all_machine_labels(store, items)
    return items


def expected_tags() -> list[tuple[str, str]]:
    mapping = sample_mapping()
    from europeana_sync.fake.synthetic import STYLES

    return sorted((record_id(i), mapping.preferred(STYLES[i % len(STYLES)]).uri) for i in range(COUNT))


def run(store, target, **options):
    return push(store, target, sample_mapping(), PushOptions(collection="eu", **options))


def posts(fake: FakeServer, prefix: str = "/annotation") -> int:
    return sum(1 for r in fake.state.logged(prefix) if r.method in ("POST", "DELETE"))


def test_push_with_every_fault_finishes_nothing_lost_nothing_duplicated_and_rerun_changes_nothing(
    fake, clock, store, ids
):
    fake.set_faults(rate_limited_requests=3, server_errors=2, duplicate_refusals=2, paths=["/annotation"])
    target = europeana_target(fake, clock, store)
    # tokens expire server-side after the third tag: the next POST answers 401, one refresh, resend
    summary = push(
        store,
        target,
        sample_mapping(),
        PushOptions(collection="eu"),
        on_step=lambda n: fake.state.tokens.expire_all() if n == 3 else None,
    )
    assert summary.stopped is None and not summary.failed and not summary.refused
    assert len(summary.created) + len(summary.already_present) == COUNT
    assert len(summary.already_present) == 2  # the two duplicate refusals, recorded as done
    assert all("someone else" in o.reason for o in summary.already_present)
    assert live_tags(fake) == expected_tags()  # exactly one tag per record × body
    assert target.client.token_provider.tokens_fetched == 2
    statuses = [r.status for r in fake.state.logged("/annotation/") if r.method == "POST"]
    assert statuses.count(429) == 3 and statuses.count(503) == 2 and statuses.count(401) == 1
    links = store.links("europeana")
    assert {link.status for link in links.values()} == {"created", "present"}
    assert sum(link.ours for link in links.values()) == COUNT - 2
    assert summary.exit_code == 0

    fake.state.clear_log()
    again = run(store, europeana_target(fake, clock, store))
    assert again.unchanged == COUNT and not (again.created or again.already_present or again.failed)
    assert posts(fake) == 0 and live_tags(fake) == expected_tags()


def test_rate_limit_that_does_not_end_stops_cleanly_and_the_next_run_resumes(fake, clock, store, ids):
    target = europeana_target(fake, clock, store)
    stop_after = 3
    summary = push(
        store,
        target,
        sample_mapping(),
        PushOptions(collection="eu"),
        on_step=lambda n: (
            fake.set_faults(rate_limited_requests=-1, paths=["/annotation/"]) if n == stop_after else None
        ),
    )
    assert summary.exit_code == EXIT_STOPPED and "rate limited" in summary.stopped
    assert "resets in 2 s" in summary.stopped
    assert len(summary.created) == stop_after - 1
    fake.set_faults(rate_limited_requests=0)
    resumed = run(store, europeana_target(fake, clock, store))
    assert resumed.stopped is None
    assert resumed.unchanged == stop_after - 1
    assert len(resumed.created) + len(resumed.already_present) == COUNT - (stop_after - 1)
    assert live_tags(fake) == expected_tags()


def test_crash_after_sending_is_resent_and_the_duplicate_is_recognised_as_ours(fake, clock, store, ids):
    first = run(store, europeana_target(fake, clock, store))
    assert len(first.created) == COUNT
    # a crash between the POST and recording its answer leaves the link "pending"
    lost = first.created[2]
    store.record_link("europeana", lost.record_id, lost.body, LinkUpdate(status="pending", annotation_id=None))
    fake.state.clear_log()
    again = run(store, europeana_target(fake, clock, store))
    [present] = again.already_present
    assert (present.record_id, present.annotation_id) == (lost.record_id, lost.annotation_id)
    assert "made by us" in present.reason
    link = store.links("europeana")[(lost.record_id, lost.body)]
    assert link.ours and link.status == "present" and link.annotation_id == lost.annotation_id
    assert [(r.method, r.status) for r in fake.state.logged("/annotation")] == [("POST", 400), ("GET", 200)]
    assert live_tags(fake) == expected_tags()
    # being ours, it is withdrawn when the curator rejects the label
    store.set_label_status(ids[2], "expressionism", "rejected")
    assert [o.record_id for o in run(store, europeana_target(fake, clock, store)).withdrawn] == [lost.record_id]


def test_curator_rejection_deletes_our_annotation_but_not_someone_elses(fake, clock, store, ids):
    fake.set_faults(duplicate_refusals=1, paths=["/annotation"])  # record 0's tag: someone else's
    first = run(store, europeana_target(fake, clock, store))
    assert len(first.already_present) == 1 and first.already_present[0].record_id == record_id(0)
    ours = first.created[0]
    assert ours.record_id == record_id(1) and ours.body == WD_BAROQUE

    store.set_label_status(ids[1], "baroque", "rejected")
    store.set_label_status(ids[0], "art_nouveau", "rejected")
    dry = run(store, europeana_target(fake, clock, store), dry_run=True)
    assert [o.record_id for o in dry.would_withdraw] == [record_id(1)]
    assert not any(r.method == "DELETE" for r in fake.state.logged("/annotation"))

    second = run(store, europeana_target(fake, clock, store))
    assert [(o.record_id, o.annotation_id) for o in second.withdrawn] == [(record_id(1), ours.annotation_id)]
    assert [o.record_id for o in second.left_in_place] == [record_id(0)]
    number = ours.annotation_id.rsplit("/", 1)[1]
    assert requests.get(f"{fake.url}/annotation/{number}", headers={"X-Api-Key": "k"}, timeout=5).status_code == 410
    assert store.links("europeana")[(record_id(1), WD_BAROQUE)].status == "deleted"
    assert (record_id(0), "http://www.wikidata.org/entity/Q34636") in live_tags(fake)

    fake.state.clear_log()
    third = run(store, europeana_target(fake, clock, store))
    assert posts(fake) == 0 and not third.withdrawn and third.unchanged == COUNT - 2

    # accepted again: published again
    store.set_label_status(ids[1], "baroque", "accepted")
    fourth = run(store, europeana_target(fake, clock, store))
    assert [o.record_id for o in fourth.created] == [record_id(1)]


def test_dry_run_sends_and_records_nothing(fake, clock, store, ids):
    summary = run(store, europeana_target(fake, clock, store), dry_run=True)
    assert len(summary.would_create) == COUNT and not summary.created
    assert fake.state.logged("/annotation") == [] and fake.state.logged("/auth") == []
    assert store.links("europeana") == {}


def test_server_errors_that_outlast_retries_are_failures_retried_next_run(fake, clock, store, ids):
    fake.set_faults(server_errors=-1, paths=["/annotation/"])
    summary = run(store, europeana_target(fake, clock, store, max_attempts=2))
    assert len(summary.failed) == 5 and "seems down" in summary.stopped  # 5 in a row: stop
    assert summary.exit_code == EXIT_STOPPED
    fake.set_faults(server_errors=0)
    again = run(store, europeana_target(fake, clock, store, max_attempts=2))
    assert len(again.created) == COUNT and live_tags(fake) == expected_tags()


def test_no_write_role_stops_at_once(fake, clock, store, ids):
    summary = run(store, europeana_target(fake, clock, store, client_id="artsnap-reader", secret="reader-secret"))
    assert "refused our credentials" in summary.stopped and "no annotation write role" in summary.stopped
    assert [r.status for r in fake.state.logged("/annotation/")] == [403]  # never retried
    assert live_tags(fake) == []


def test_unmapped_labels_and_foreign_items_are_reported_not_sent(fake, clock, store, ids):
    store.set_label_status(ids[2], "cubism", "accepted", add_if_missing=True)
    summary = run(store, europeana_target(fake, clock, store), min_confidence=0.6)
    assert summary.not_mapped == {"cubism": 1}
    # 0.55 (record 0) is below the threshold; records 1..7 go out
    assert len(summary.created) == COUNT - 1


def test_with_push_relogs_in_is_idempotent_and_withdraws_rejections(fake, clock, store, ids):
    target = with_target(fake, clock)
    summary = push(
        store,
        target,
        sample_mapping(),
        PushOptions(collection="eu"),
        on_step=lambda n: fake.state.with_store.expire_sessions() if n == 4 else None,
    )
    assert len(summary.created) == COUNT and summary.exit_code == 0
    assert target.client.session.logins == 2
    stored = fake.state.with_store.all_annotations()
    assert sorted((a.external_id, a.body["uri"]) for a in stored) == expected_tags()
    assert all(a.generator == "artsnap" for a in stored)

    fake.state.clear_log()
    again = run(store, with_target(fake, clock))
    assert again.unchanged == COUNT and posts(fake, "/with/record/annotation") == 0

    store.set_label_status(ids[1], "baroque", "rejected")
    third = run(store, with_target(fake, clock))
    assert [o.record_id for o in third.withdrawn] == [record_id(1)]
    assert len(fake.state.with_store.all_annotations()) == COUNT - 1


def test_cli_push_with_environment_credentials_then_dry_run(fake, data_dir, store, ids, monkeypatch, capsys):
    monkeypatch.setenv("EUROPEANA_API_KEY", "test-key")
    monkeypatch.setenv("EUROPEANA_CLIENT_ID", "artsnap-curator")
    monkeypatch.setenv("EUROPEANA_CLIENT_SECRET", "curator-secret")
    args = [
        "--data-dir",
        str(data_dir),
        "europeana",
        "push-annotations",
        "--collection",
        "eu",
        "--mapping",
        str(SAMPLE_WIKIART_STYLES),
        "--api-url",
        fake.url,
        "--token-url",
        fake.endpoints.token_url,
        "--quiet",
    ]
    assert main(args) == 0
    assert f"{COUNT} created, 0 already present, 0 refused, 0 failed" in capsys.readouterr().err
    assert main([*args, "--dry-run"]) == 0
    assert f"would create 0, would withdraw 0; {COUNT} already done" in capsys.readouterr().err
    monkeypatch.delenv("EUROPEANA_CLIENT_ID")
    assert (
        main(
            [
                "--data-dir",
                str(data_dir),
                "europeana",
                "push-annotations",
                "--collection",
                "eu",
                "--mapping",
                str(SAMPLE_WIKIART_STYLES),
                "--api-url",
                fake.url,
            ]
        )
        == 78  # configuration missing: EX_CONFIG, never retried by cron
    )
    assert "no OIDC client" in capsys.readouterr().err


# -- defect 1: a refused WITH login stops the push at once and refuses no label ----------------


def _with_target(fake: FakeServer, clock, *, username: str = "curator@artsnap.test", password: str = "with-password"):
    from backend.sync.targets import WithTarget
    from europeana_sync.fake.testing import instant_session
    from europeana_sync.with_api import WithClient

    client = WithClient(fake.endpoints.with_api, username=username, password=password, http=instant_session(clock))
    return WithTarget(client)


def test_with_push_with_a_wrong_password_stops_at_once_and_a_rerun_with_the_right_one_creates_everything(
    fake, clock, store, ids
):
    summary = run(store, _with_target(fake, clock, password="wrong"))
    assert summary.exit_code == EXIT_CONFIG and "refused our credentials" in summary.stopped
    assert "Invalid Password" in summary.stopped
    assert not summary.refused and not summary.created
    assert [r.status for r in fake.state.logged("/with/user/login")] == [400]  # one login, not one per label
    assert fake.state.logged("/with/record") == []
    assert "refused" not in {link.status for link in store.links("with").values()}

    # the curator fixes the password; no --retry-refused needed
    again = run(store, _with_target(fake, clock, username="curator"))  # a username works too
    assert again.exit_code == 0 and len(again.created) == COUNT and again.refused_earlier == 0
    assert len(fake.state.with_store.all_annotations()) == COUNT


def test_labels_an_older_version_refused_for_a_refused_login_are_sent_again(fake, clock, store, ids):
    for key in expected_tags():
        store.record_link(
            "with",
            *key,
            LinkUpdate(status="refused", label="x", reason='{"error":{"email":"Need Email or Username"}}'),
        )
    summary = run(store, _with_target(fake, clock))
    assert len(summary.created) == COUNT and summary.refused_earlier == 0


def test_a_europeana_token_without_the_annotations_scope_stops_the_push_as_a_configuration_error(
    fake, clock, store, ids
):
    from backend.sync.targets import EuropeanaTarget
    from europeana_sync.annotations_api import AnnotationsClient
    from europeana_sync.fake.testing import instant_session
    from europeana_sync.oidc import OidcTokenProvider

    http = instant_session(clock)
    tokens = OidcTokenProvider(fake.endpoints.token_url, "artsnap-curator", "curator-secret", scope=None, http=http)
    target = EuropeanaTarget(AnnotationsClient("test-key", tokens, base_url=fake.url, http=http))
    summary = run(store, target)
    assert summary.exit_code == EXIT_CONFIG and "no 'annotations' scope" in summary.stopped
    assert [r.status for r in fake.state.logged("/annotation/")] == [403]
    assert {link.status for link in store.links("europeana").values()} == {"failed"}
    assert run(store, europeana_target(fake, clock, store)).exit_code == 0
    assert live_tags(fake) == expected_tags()


# -- defect 11: the answer to the very first create is lost -----------------------------------


def test_a_lost_answer_to_the_first_create_is_recognised_as_ours_and_can_be_withdrawn(fake, clock, store, ids):
    assert store.known_creator("europeana") is None  # nothing was ever created: no creator known
    fake.set_faults(lost_responses=1)
    first = run(store, europeana_target(fake, clock, store))
    assert first.exit_code == 0 and len(first.created) == COUNT - 1
    [present] = first.already_present
    assert "made by us" in present.reason
    statuses = [r.status for r in fake.state.logged("/annotation/") if r.method == "POST"]
    assert statuses[:2] == [504, 400]  # stored but unanswered; the retry is a duplicate refusal
    link = store.links("europeana")[(present.record_id, present.body)]
    assert link.ours and link.creator == "http://data.europeana.eu/user/artsnap-curator"
    assert live_tags(fake) == expected_tags()

    store.set_label_status(ids[0], "art_nouveau", "rejected")
    second = run(store, europeana_target(fake, clock, store))
    assert [o.record_id for o in second.withdrawn] == [present.record_id] and not second.left_in_place


def test_a_link_recorded_as_not_ours_without_a_creator_is_checked_again_before_withdrawing(fake, clock, store, ids):
    first = run(store, europeana_target(fake, clock, store))
    ours = first.created[0]
    # what an older version recorded after a lost first answer: present, not ours, no creator
    store.record_link("europeana", ours.record_id, ours.body, LinkUpdate(status="present", ours=False, creator=None))
    store.set_label_status(ids[0], "art_nouveau", "rejected")
    second = run(store, europeana_target(fake, clock, store))
    assert [o.record_id for o in second.withdrawn] == [ours.record_id]


# -- defect 9: withdrawing from WITH after the session expired --------------------------------


def test_with_withdrawal_after_session_expiry_logs_in_again_and_withdraws(fake, clock, store, ids):
    assert run(store, _with_target(fake, clock)).exit_code == 0
    store.set_label_status(ids[1], "baroque", "rejected")
    target = _with_target(fake, clock)
    target.client.login()
    fake.state.with_store.expire_sessions()  # the session expires before the withdrawal
    summary = run(store, target)
    assert [o.record_id for o in summary.withdrawn] == [record_id(1)] and not summary.withdraw_failed
    assert len(fake.state.with_store.all_annotations()) == COUNT - 1
