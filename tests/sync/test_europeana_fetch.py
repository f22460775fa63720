"""Safe fetching of provider images (defect 4), against the fake's misbehaving providers.

The fake listens on 127.0.0.1, which the fetcher refuses like any private address; each test
opens exactly that host:port with ``allowed_hosts`` (the escape hatch), so redirects to any
other local address are still refused.
"""

from __future__ import annotations

import pytest

from europeana_sync.errors import (
    DeadlineExceeded,
    NotAnImage,
    PlaceholderImage,
    PrivateAddress,
    ProviderRefused,
    ProviderUnavailable,
    RedirectLoop,
    TooLarge,
    UnsafeUrl,
)
from europeana_sync.fake import FakeServer
from europeana_sync.fake.testing import ManualClock
from europeana_sync.fetch import FetchPolicy, ImageFetcher, is_public_address, looks_like_image

MiB = 1024 * 1024


def fetcher(fake: FakeServer, **policy) -> ImageFetcher:
    settings = {"allowed_hosts": frozenset({f"127.0.0.1:{fake.port}"}), "deadline": 10.0, "read_timeout": 5.0}
    settings.update(policy)
    return ImageFetcher(FetchPolicy(**settings))


def provider_hits(fake: FakeServer, path: str = "/fake-provider") -> list[int]:
    return [r.status for r in fake.state.logged(path)]


def test_an_image_from_an_allowed_host_is_fetched(fake):
    got = fetcher(fake).fetch(f"{fake.url}/fake-provider/image.png")
    assert looks_like_image(got.data) and got.content_type == "image/png"
    assert got.address == "127.0.0.1" and got.redirects == () and got.attempts == 1


@pytest.mark.parametrize(
    "address, public",
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # shared (CGNAT)
        ("0.0.0.0", False),
        ("224.0.0.1", False),  # multicast
        ("240.0.0.1", False),  # reserved
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("2002:7f00:1::", False),  # 6to4 around 127.0.0.1
        ("93.184.216.34", True),
        ("2a00:1450:4001:80b::200e", True),
    ],
)
def test_address_classification(address, public):
    assert is_public_address(address) is public


def test_loopback_is_refused_without_the_escape_hatch_and_nothing_is_requested(fake):
    with pytest.raises(PrivateAddress, match="not a public address"):
        ImageFetcher().fetch(f"{fake.url}/fake-provider/image.png")
    with pytest.raises(PrivateAddress):
        ImageFetcher().fetch(f"http://localhost:{fake.port}/fake-provider/image.png")
    assert provider_hits(fake) == []


def test_a_name_that_resolves_to_a_private_address_is_refused_before_connecting():
    resolver_calls = []

    def resolver(host: str, port: int) -> list[str]:
        resolver_calls.append((host, port))
        return ["10.0.0.7"]

    with pytest.raises(PrivateAddress, match="10.0.0.7"):
        ImageFetcher(resolver=resolver).fetch("https://images.provider.example/painting.jpg")
    assert resolver_calls == [("images.provider.example", 443)]


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://localhost:{port}/_fake/info",
        "http://127.0.0.1:1/",  # another port of the allowed host
        "http://[::1]:{port}/",
        "http://10.0.0.1/",
    ],
)
def test_redirects_to_private_addresses_are_refused(fake, target):
    target = target.format(port=fake.port)
    with pytest.raises(PrivateAddress) as caught:
        fetcher(fake).fetch(f"{fake.url}/fake-provider/redirect?to={target}")
    assert caught.value.final_url == target
    assert provider_hits(fake) == [302] and fake.state.logged("/_fake") == []


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://provider.example/a.jpg", "gopher://x/", "http://user:secret@provider.example/a.jpg"],
)
def test_only_plain_http_and_https_urls_are_fetched(url):
    with pytest.raises(UnsafeUrl):
        ImageFetcher().fetch(url)


def test_a_redirect_to_a_file_url_is_refused(fake):
    with pytest.raises(UnsafeUrl):
        fetcher(fake).fetch(f"{fake.url}/fake-provider/redirect?to=file:///etc/passwd")


def test_an_announced_size_over_the_cap_is_refused_before_reading(fake, monkeypatch):
    def must_not_read(*args, **kwargs):
        raise AssertionError("the body was read")

    monkeypatch.setattr(ImageFetcher, "_read", must_not_read)
    with pytest.raises(TooLarge, match="not downloaded"):
        fetcher(fake).fetch(f"{fake.url}/fake-provider/huge.png?bytes={60 * MiB}")  # default cap: 40 MiB


def test_an_unannounced_size_over_the_cap_stops_reading_at_the_cap(fake):
    with pytest.raises(TooLarge, match="reading stopped"):
        fetcher(fake, max_bytes=1 * MiB).fetch(f"{fake.url}/fake-provider/huge.png?bytes={8 * MiB}&length=omit")


def test_a_file_under_the_cap_is_read_whole(fake):
    got = fetcher(fake, max_bytes=1 * MiB).fetch(f"{fake.url}/fake-provider/huge.png?bytes=300000&length=omit")
    assert len(got.data) == 300000


@pytest.mark.parametrize(
    "path",
    [
        "/fake-provider/landing.html",
        "/fake-provider/image.png?content_type=text/plain",
        "/fake-provider/landing.html?x=1",
    ],
)
def test_what_is_not_an_image_is_refused(fake, path):
    with pytest.raises(NotAnImage):
        fetcher(fake).fetch(f"{fake.url}{path}")


def test_octet_stream_passes_only_when_the_bytes_are_an_image(fake):
    got = fetcher(fake).fetch(f"{fake.url}/fake-provider/image.png?content_type=application/octet-stream")
    assert looks_like_image(got.data)
    fake.set_faults(html_full_images=1)
    with pytest.raises(NotAnImage):
        fetcher(fake).fetch(f"{fake.url}/fake-media/9200999/artsnap_demo_000/full.png")


def test_a_slow_drip_is_cut_at_the_deadline_although_no_read_times_out(fake):
    # one byte every 50 ms keeps every read well inside the 5 s read timeout; the whole
    # would take 20 s
    with pytest.raises(DeadlineExceeded, match="still arriving"):
        fetcher(fake, deadline=0.5).fetch(f"{fake.url}/fake-provider/drip.png?bytes=400&interval=0.05")


def test_redirect_loops_and_long_chains_are_refused(fake):
    with pytest.raises(RedirectLoop, match="loop"):
        fetcher(fake).fetch(f"{fake.url}/fake-provider/loop")
    with pytest.raises(RedirectLoop, match="more than 5 redirects"):
        fetcher(fake).fetch(f"{fake.url}/fake-provider/chain/8")
    got = fetcher(fake).fetch(f"{fake.url}/fake-provider/chain/3")
    assert len(got.redirects) == 3 and got.final_url.endswith("/chain/0")


def test_provider_hosts_get_a_small_retry_budget_of_their_own(fake):
    clock = ManualClock()
    fake.set_faults(server_errors=-1, paths=["/fake-provider/image.png"])
    slow_down = ImageFetcher(
        FetchPolicy(allowed_hosts=frozenset({f"127.0.0.1:{fake.port}"})), sleep=clock.sleep
    )  # default: 2 tries
    with pytest.raises(ProviderUnavailable, match="HTTP 503 .after 2 tries"):
        slow_down.fetch(f"{fake.url}/fake-provider/image.png")
    assert provider_hits(fake) == [503, 503]  # not the API's 5 tries over 300 s
    assert len(clock.sleeps) == 1 and clock.slept <= 1.0


def test_a_host_that_keeps_failing_is_not_asked_again_in_this_run(fake):
    fake.set_faults(server_errors=-1, paths=["/fake-provider/image.png"])
    failing = fetcher(fake, max_attempts=1, host_failure_limit=2)
    for _ in range(2):
        with pytest.raises(ProviderUnavailable):
            failing.fetch(f"{fake.url}/fake-provider/image.png")
    with pytest.raises(ProviderUnavailable, match="not asked again"):
        failing.fetch(f"{fake.url}/fake-provider/chain/0")
    assert len(provider_hits(fake)) == 2


def test_4xx_is_refused_once_not_retried(fake):
    with pytest.raises(ProviderRefused, match="HTTP 404") as caught:
        fetcher(fake).fetch(f"{fake.url}/fake-provider/nothing-here.jpg")
    assert caught.value.status == 404 and provider_hits(fake) == [404]


def test_downloads_wait_for_a_free_connection_to_their_host_within_the_deadline(fake):
    busy = fetcher(fake, per_host_connections=1, deadline=0.3)
    slot = busy._slot("127.0.0.1")
    slot.acquire()  # another worker is downloading from this host
    try:
        with pytest.raises(DeadlineExceeded, match="no free connection"):
            busy.fetch(f"{fake.url}/fake-provider/image.png")
    finally:
        slot.release()
    assert provider_hits(fake) == []
    assert looks_like_image(busy.fetch(f"{fake.url}/fake-provider/image.png").data)


def test_the_thumbnail_apis_placeholder_is_refused_as_such(fake):
    with pytest.raises(PlaceholderImage) as caught:
        fetcher(fake).fetch(f"{fake.url}/thumbnail/v2/url.json?uri=http://provider.example/x.tif&type=IMAGE")
    assert caught.value.placeholder == "europeana-thumbnail-v2-image" and caught.value.reason == "placeholder"
    kept = fetcher(fake, reject_placeholders=False).fetch(f"{fake.url}/fake-provider/placeholder.png")
    assert looks_like_image(kept.data)


def test_a_policy_for_a_local_api_opens_only_that_host_and_port(fake):
    policy = FetchPolicy.for_api(fake.url, deadline=5.0)
    assert policy.allowed_hosts == {f"127.0.0.1:{fake.port}"} and policy.deadline == 5.0
    assert FetchPolicy.for_api("https://api.europeana.eu").allowed_hosts == frozenset()
    assert FetchPolicy.for_api("http://localhost:8765").allowed_hosts == {"localhost:8765"}
    got = ImageFetcher(policy).fetch(f"{fake.url}/fake-media/9200999/artsnap_demo_000/full.png")
    assert looks_like_image(got.data)
    with pytest.raises(PrivateAddress):
        ImageFetcher(policy).fetch(f"{fake.url}/fake-provider/redirect?to=http://localhost:{fake.port}/")
