"""The shared retrying HTTP layer, against the fake over real HTTP on 127.0.0.1."""

from __future__ import annotations

import random
import socket

import pytest

from europeana_sync.errors import BadRequest, Forbidden, MalformedResponse, NotFound, RateLimited, RetriesExhausted
from europeana_sync.exit_codes import EXIT_TEMPFAIL, exit_code_for
from europeana_sync.fake import FakeServer
from europeana_sync.fake.testing import instant_session
from europeana_sync.http import RetryPolicy
from europeana_sync.response_headers import parse_ratelimit, parse_retry_after
from europeana_sync.search_api import SearchApiClient

SEARCH_PATH = "/record/v2/search.json"


def search_attempts(fake: FakeServer) -> list[int]:
    return [r.status for r in fake.state.logged(SEARCH_PATH)]


# -- header parsing --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header, remaining, reset",
    [
        ('"personal";r=0;t=42', 0, 42.0),
        ('"personal";r=17;t=3', 17, 3.0),
        ("personal; r=5; t=0", 5, 0.0),
        ('"personal";t=9', None, 9.0),
        ('"global";r=90;t=5, "personal";r=0;t=42', 0, 42.0),
    ],
)
def test_parse_ratelimit(header, remaining, reset):
    info = parse_ratelimit(header)
    assert info is not None and info.policy == "personal"  # the binding policy
    assert (info.remaining, info.reset_seconds) == (remaining, reset)


@pytest.mark.parametrize("header", [None, "", "garbage", '"personal"'])
def test_parse_ratelimit_tolerates_junk(header):
    assert parse_ratelimit(header) is None


def test_parse_retry_after_seconds_and_date():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == pytest.approx(10.0)
    assert parse_retry_after("soon") is None


def test_backoff_is_full_jitter_within_exponential_ceiling():
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0)
    rng = random.Random(1)
    for retry, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        waits = [policy.backoff(retry, rng) for _ in range(200)]
        assert 0.0 <= min(waits) and max(waits) <= ceiling
        assert max(waits) > ceiling * 0.8  # spread over the whole range, not fixed


# -- behaviour against the fake ---------------------------------------------------------------


def test_429_burst_obeys_ratelimit_header_without_real_sleep(fake, clock):
    fake.set_faults(rate_limited_requests=3, rate_limit_reset_seconds=7)
    client = SearchApiClient("key", base_url=fake.url, http=instant_session(clock))
    items = list(client.search("*", rows=100))
    assert len(items) == 24
    assert clock.sleeps == [7, 7, 7]
    assert search_attempts(fake) == [429, 429, 429, 200]


def test_429_within_the_longest_accepted_wait_is_waited_out(fake, clock):
    fake.set_faults(rate_limited_requests=1, rate_limit_reset_seconds=50)
    client = SearchApiClient(
        "key", base_url=fake.url, http=instant_session(clock, max_rate_limit_wait=60, max_total_seconds=1000)
    )
    assert len(list(client.search("*"))) == 24
    assert clock.sleeps == [50]


def test_429_announcing_a_reset_beyond_the_longest_accepted_wait_stops_at_once(fake, clock):
    # Defect 10: a reset of 900 s used to be waited on in slices of max_rate_limit_wait
    # until the 300 s budget ran out, each slice buying another 429.
    fake.set_faults(rate_limited_requests=-1, rate_limit_reset_seconds=900)
    client = SearchApiClient("key", base_url=fake.url, http=instant_session(clock))  # default policy
    with pytest.raises(RateLimited) as caught:
        list(client.search("*"))
    assert caught.value.reset_after == 900
    assert "announced a reset in 900 s" in str(caught.value)
    assert clock.sleeps == [] and search_attempts(fake) == [429]


def test_429_reset_beyond_the_rest_of_the_time_budget_stops_at_once(fake, clock):
    # the first 429s are waited on; once the next reset would cross the budget, stop
    fake.set_faults(rate_limited_requests=-1, rate_limit_reset_seconds=40)
    client = SearchApiClient("key", base_url=fake.url, http=instant_session(clock, max_total_seconds=100))
    with pytest.raises(RateLimited) as caught:
        list(client.search("*"))
    assert clock.sleeps == [40, 40]  # a third wait would end at 120 s > 100 s
    assert caught.value.reset_after == 40 and len(search_attempts(fake)) == 3


# -- a 200 that is not JSON (defect 5) -------------------------------------------------------


def test_html_page_with_200_is_retried_like_an_outage_then_succeeds(fake, clock):
    fake.set_faults(non_json_responses=2, paths=[SEARCH_PATH])
    client = SearchApiClient("key", base_url=fake.url, http=instant_session(clock))
    assert len(list(client.search("*"))) == 24
    assert search_attempts(fake) == [200, 200, 200] and len(clock.sleeps) == 2


def test_html_page_with_200_that_persists_is_a_typed_error_not_a_traceback(fake, clock):
    fake.set_faults(non_json_responses=-1, paths=[SEARCH_PATH])
    client = SearchApiClient("key", base_url=fake.url, http=instant_session(clock, max_attempts=3))
    with pytest.raises(MalformedResponse) as caught:
        list(client.search("*"))
    error = caught.value
    assert isinstance(error, RetriesExhausted) and error.status == 200 and error.attempts == 3
    assert error.content_type.startswith("text/html")
    assert "not JSON" in str(error) and "maintenance" in str(error)
    assert exit_code_for(error) == EXIT_TEMPFAIL


def test_a_write_answered_with_html_is_not_sent_twice(fake, clock):
    from europeana_sync.annotations_api import AnnotationsClient
    from europeana_sync.oidc import OidcTokenProvider

    http = instant_session(clock)
    tokens = OidcTokenProvider(fake.endpoints.token_url, "artsnap-curator", "curator-secret", http=http)
    client = AnnotationsClient("key", tokens, base_url=fake.url, http=http)
    tokens.access_token()
    fake.set_faults(non_json_responses=1, paths=["/annotation/"])
    with pytest.raises(MalformedResponse):
        client.create_tag("/9200999/artsnap_demo_001", "http://www.wikidata.org/entity/Q37853")
    assert [r.method for r in fake.state.logged("/annotation/")] == ["POST"]


def test_429_retry_after_is_honoured_and_longer_announcement_wins(fake, clock):
    fake.set_faults(rate_limited_requests=1, rate_limit_reset_seconds=4, retry_after_header=True)
    client = SearchApiClient("key", base_url=fake.url, http=instant_session(clock))
    list(client.search("*"))
    assert clock.sleeps == [4]


def test_429_beyond_time_budget_gives_up_at_once_with_reset(fake, clock):
    fake.set_faults(rate_limited_requests=1, rate_limit_reset_seconds=100)
    client = SearchApiClient("key", base_url=fake.url, http=instant_session(clock, max_total_seconds=30))
    with pytest.raises(RateLimited) as caught:
        list(client.search("*"))
    assert caught.value.reset_after == 100
    assert clock.sleeps == []  # no pointless wait before failing


def test_endless_429_is_bounded(fake, clock):
    fake.set_faults(rate_limited_requests=-1, rate_limit_reset_seconds=1)
    client = SearchApiClient("key", base_url=fake.url, http=instant_session(clock, max_rate_limited=4))
    with pytest.raises(RateLimited):
        list(client.search("*"))
    assert len(search_attempts(fake)) == 5


def test_5xx_retried_with_backoff_then_success(fake, clock):
    fake.set_faults(server_errors=2, server_error_status=503)
    client = SearchApiClient("key", base_url=fake.url, http=instant_session(clock, base_delay=1.0))
    assert len(list(client.search("*"))) == 24
    assert search_attempts(fake) == [503, 503, 200]
    assert len(clock.sleeps) == 2
    assert 0 <= clock.sleeps[0] <= 1.0 and 0 <= clock.sleeps[1] <= 2.0


def test_5xx_forever_gives_clear_error_after_bounded_attempts(fake, clock):
    fake.set_faults(server_errors=-1, server_error_status=502)
    client = SearchApiClient("key", base_url=fake.url, http=instant_session(clock, max_attempts=4))
    with pytest.raises(RetriesExhausted) as caught:
        list(client.search("*"))
    error = caught.value
    assert error.status == 502 and error.attempts == 4
    assert "gave up after 4 attempts" in str(error) and "HTTP 502" in str(error)
    assert search_attempts(fake) == [502] * 4
    assert len(clock.sleeps) == 3


def test_total_time_budget_stops_retries_early(fake, clock):
    fake.set_faults(server_errors=-1)
    client = SearchApiClient(
        "key",
        base_url=fake.url,
        http=instant_session(clock, max_attempts=50, base_delay=10, max_delay=10, max_total_seconds=25),
    )
    with pytest.raises(RetriesExhausted, match="time budget"):
        list(client.search("*"))
    assert clock.slept <= 25
    assert len(search_attempts(fake)) < 50


def test_slow_response_times_out_and_is_retried(fake, clock):
    fake.set_faults(slow_requests=1, slow_seconds=1.5)
    client = SearchApiClient("key", base_url=fake.url, http=instant_session(clock, read_timeout=0.5))
    assert len(list(client.search("*"))) == 24
    assert len(clock.sleeps) == 1  # one backoff after the timeout


def test_connection_refused_is_retried_then_reported(clock):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = SearchApiClient("key", base_url=f"http://127.0.0.1:{port}", http=instant_session(clock, max_attempts=3))
    with pytest.raises(RetriesExhausted) as caught:
        list(client.search("*"))
    assert caught.value.status is None and caught.value.attempts == 3
    assert "ConnectionError" in str(caught.value)


def test_4xx_is_not_retried(fake, clock):
    client = SearchApiClient("key", base_url=fake.url, http=instant_session(clock))
    with pytest.raises(NotFound):
        client.record("/123/does_not_exist")
    assert [r.status for r in fake.state.logged("/record/v2/123")] == [404]
    with pytest.raises(BadRequest, match="cursor"):
        client.http.request("GET", f"{fake.url}{SEARCH_PATH}", params={"query": "*", "cursor": "bogus"})
    assert clock.sleeps == []


def test_403_is_permission_error_and_not_retried(fake, clock):
    from europeana_sync.annotations_api import AnnotationsClient
    from europeana_sync.oidc import OidcTokenProvider

    http = instant_session(clock)
    tokens = OidcTokenProvider(fake.endpoints.token_url, "artsnap-reader", "reader-secret", http=http)
    client = AnnotationsClient("key", tokens, base_url=fake.url, http=http)
    with pytest.raises(PermissionError) as caught:
        client.create_tag("/9200999/artsnap_demo_001", "http://www.wikidata.org/entity/Q37853")
    assert isinstance(caught.value, Forbidden)
    assert "not authorized" in caught.value.message
    assert [r.status for r in fake.state.logged("/annotation")] == [403]
    assert tokens.tokens_fetched == 1 and clock.sleeps == []


def test_api_key_travels_in_header_not_url(fake, clock):
    client = SearchApiClient("secret-key", base_url=fake.url, http=instant_session(clock))
    list(client.search("*", rows=10))
    client.record("/9200999/artsnap_demo_000")
    logged = fake.state.logged("/record/v2")
    assert logged and all(r.api_key_header == "secret-key" and r.api_key_param is None for r in logged)
    assert all("secret-key" not in r.query for r in logged)
