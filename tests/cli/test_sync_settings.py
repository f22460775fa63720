"""The sync commands' addresses and credentials: read from the environment in backend.config,
used as flag defaults by ``artsnap europeana …`` / ``artsnap with …``; a flag still wins."""

from __future__ import annotations

import pytest

from backend.cli import build_parser
from backend.config import SyncSettings
from europeana_sync import annotations_api, search_api

ENV = {
    "EUROPEANA_API_URL": "http://127.0.0.1:9/eu",
    "EUROPEANA_API_KEY": "key-123",
    "EUROPEANA_TOKEN_URL": "http://127.0.0.1:9/token",
    "EUROPEANA_CLIENT_ID": "artsnap-curator",
    "EUROPEANA_CLIENT_SECRET": "client-secret-456",
    "EUROPEANA_USERNAME": "curator",
    "EUROPEANA_PASSWORD": "eu-password-789",
    "WITH_API_URL": "http://127.0.0.1:9/with",
    "WITH_USERNAME": "curator@artsnap.test",
    "WITH_PASSWORD": "with-password-000",
    "EUROPEANA_TOKEN_SCOPE": "annotations openid",
    "EUROPEANA_API_VERSION": "v3",
}


def test_every_variable_lands_in_its_field_and_secrets_stay_out_of_repr() -> None:
    settings = SyncSettings.from_env(ENV)
    assert {name.upper(): value for name, value in vars(settings).items()} == ENV
    shown = repr(settings)
    for secret in ("key-123", "client-secret-456", "eu-password-789", "with-password-000"):
        assert secret not in shown
    assert "artsnap-curator" in shown


def test_unset_variables_leave_the_defaults() -> None:
    settings = SyncSettings.from_env({})
    assert settings.europeana_api_url == search_api.DEFAULT_BASE_URL == annotations_api.DEFAULT_BASE_URL
    assert settings.europeana_api_key is None and settings.with_api_url is None and settings.with_password is None


@pytest.fixture
def sync_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


@pytest.mark.usefixtures("sync_env")
def test_the_sync_commands_take_their_defaults_from_the_environment() -> None:
    parser = build_parser()
    pull = parser.parse_args(["europeana", "pull", "q", "--collection", "c"])
    assert (pull.api_url, pull.api_key) == (ENV["EUROPEANA_API_URL"], ENV["EUROPEANA_API_KEY"])
    push = parser.parse_args(["europeana", "push-annotations", "--collection", "c", "--mapping", "m.json"])
    assert (push.api_url, push.api_key, push.token_url) == (
        ENV["EUROPEANA_API_URL"],
        ENV["EUROPEANA_API_KEY"],
        ENV["EUROPEANA_TOKEN_URL"],
    )
    assert (push.client_id, push.client_secret) == (ENV["EUROPEANA_CLIENT_ID"], ENV["EUROPEANA_CLIENT_SECRET"])
    assert (push.username, push.password) == (ENV["EUROPEANA_USERNAME"], ENV["EUROPEANA_PASSWORD"])
    with_push = parser.parse_args(["with", "push-annotations", "--collection", "c", "--mapping", "m.json"])
    assert (with_push.api_url, with_push.username, with_push.password) == (
        ENV["WITH_API_URL"],
        ENV["WITH_USERNAME"],
        ENV["WITH_PASSWORD"],
    )


@pytest.mark.usefixtures("sync_env")
def test_a_flag_wins_over_the_environment() -> None:
    args = build_parser().parse_args(
        ["europeana", "pull", "q", "--collection", "c", "--api-key", "flag-key", "--api-url", "http://x"]
    )
    assert (args.api_key, args.api_url) == ("flag-key", "http://x")
