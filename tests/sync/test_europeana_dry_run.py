"""A curator's dry run: checks every credential and fetches one record, writing nothing (13)."""

from __future__ import annotations

import dataclasses

import pytest

from europeana_sync.dry_run import FAILED, PASSED, SKIPPED, DryRunSettings, dry_run
from europeana_sync.exit_codes import EXIT_CONFIG, EXIT_ITEM_FAILURES, EXIT_OK
from europeana_sync.fake import FakeAccounts, FakeClientApp, FakeServer
from europeana_sync.fake.testing import ManualClock, instant_session


def settings_for(fake: FakeServer, **changes) -> DryRunSettings:
    base = DryRunSettings(
        api_key="test-key",
        api_url=fake.url,
        query="impressionism",
        token_url=fake.endpoints.token_url,
        client_id="artsnap-curator",
        client_secret="curator-secret",
        with_url=fake.endpoints.with_api,
        with_username="curator@artsnap.test",
        with_password="with-password",
    )
    return dataclasses.replace(base, **changes)


def run(fake: FakeServer, **changes):
    # the default fetch policy opens the fake's own host:port, as for any local API
    return dry_run(settings_for(fake, **changes), http=instant_session(ManualClock()))


def statuses(report) -> dict[str, str]:
    return {check.name: check.status for check in report.checks}


def writes(fake: FakeServer) -> list[str]:
    return [
        f"{r.method} {r.path}"
        for r in fake.state.requests
        if r.method in ("POST", "PUT", "DELETE") and not r.path.endswith(("/token", "/user/login"))
    ]


def test_everything_configured_and_right_passes_and_nothing_is_written(fake):
    report = run(fake)
    assert statuses(report) == {
        "Search API": PASSED,
        "Record API (v2)": PASSED,
        "image (edmIsShownBy)": PASSED,
        "OIDC token": PASSED,
        "annotations scope": PASSED,
        "WITH login": PASSED,
    }
    assert report.exit_code == EXIT_OK and report.record_id
    search = fake.state.logged("/record/v2/search.json")[0].query
    assert "reusability=open" in search and "rows=1" in search
    assert writes(fake) == [] and fake.state.annotations.all() == []
    assert fake.state.with_store.all_annotations() == []
    assert report.lines()[0].startswith("dry run: everything that was configured works")
    assert report.to_dict()["exit_code"] == 0


def test_a_refused_api_key_is_reported_and_the_other_credentials_still_checked():
    with FakeServer(accounts=FakeAccounts(api_keys=frozenset({"the-right-key"}))) as fake:
        report = run(fake, api_key="expired")
        got = statuses(report)
        assert got["Search API"] == FAILED and got["OIDC token"] == PASSED and got["WITH login"] == PASSED
        assert report.exit_code == EXIT_CONFIG
        [failed] = report.failed
        assert "refused the API key" in failed.detail and failed.to_dict()["error"] == "ApiKeyRejected"


def test_a_token_without_the_annotations_scope_is_a_configuration_error():
    clients = {"artsnap-curator": FakeClientApp("artsnap-curator", "curator-secret", optional_scopes=frozenset())}
    with FakeServer(accounts=FakeAccounts(clients=clients)) as fake:
        report = run(fake)
        assert statuses(report)["annotations scope"] == FAILED and report.exit_code == EXIT_CONFIG
        assert "ask Europeana" in report.failed[0].detail


@pytest.mark.parametrize("login, password", [("curator@artsnap.test", "wrong"), ("nobody", "with-password")])
def test_a_refused_with_login_is_a_configuration_error(fake, login, password):
    report = run(fake, with_username=login, with_password=password)
    assert statuses(report)["WITH login"] == FAILED and report.exit_code == EXIT_CONFIG


def test_a_placeholder_instead_of_the_image_is_reported(fake):
    fake.set_faults(placeholder_previews=1)
    report = run(fake, record_id="/9200999/artsnap_demo_017")  # preview only
    assert statuses(report)["image (edmPreview)"] == FAILED
    assert report.failed[0].detail.startswith("placeholder:") and report.exit_code == EXIT_ITEM_FAILURES


def test_what_is_not_configured_is_skipped_and_says_so(fake):
    report = dry_run(DryRunSettings(), http=instant_session(ManualClock()))
    assert set(statuses(report).values()) == {SKIPPED} and report.exit_code == EXIT_OK
    assert any("EUROPEANA_API_KEY" in c.detail for c in report.checks)
    assert fake.state.requests == []
