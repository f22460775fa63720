"""Pull job against the fake Search API (synthetic records), with faults; and the whole
nightly round (pull → labels → export → push) finishing with nothing lost or duplicated.

The fake's 24 synthetic records: 20 are pullable; one is in copyright (InC), one is
non-commercial (CC BY-NC, "restricted"), one has no image at all, and one has only a preview
(edmPreview, no edmIsShownBy). The pull asks the API for open licences, ``media=true`` and
``thumbnail=true``, so the API leaves those four out (as Europeana's does) and the job never
pages through them.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter

import pytest

from backend.cli import main
from backend.engine.catalog.sync_store import SyncStore
from backend.engine.services import Engine
from backend.sync import provenance
from backend.sync.checkpoints import PULL_JOB
from backend.sync.export_labels import ExportFilters, export_labels, write_csv
from backend.sync.pull import PullOptions, pull
from backend.sync.push import PushOptions, push
from dataset_tools.progress import Level, SilentProgress
from europeana_sync.exit_codes import EXIT_TEMPFAIL as EXIT_STOPPED
from europeana_sync.fake import FakeServer
from tests.sync.sync_support import (
    europeana_target,
    live_tags,
    media_fetcher,
    record_id,
    sample_mapping,
    search_client,
)

PULLABLE = 20
#: The fault tests pull a smaller result set (ONNX time on 2 shared cores is what they cost):
#: records 3, 4, 10 and 18 — 2 pages of 2 (11, CC BY-NC, and 17, preview only, are filtered
#: out by the API).
SMALL = dict(query="impressionism", rows=2, batch_size=2)
SMALL_PULLABLE = 4
ONE_BY_ONE = dict(SMALL, rows=1, batch_size=1)


@pytest.fixture
def engine(make_settings):
    eng = Engine.open(make_settings())
    yield eng
    eng.close()


def options(**overrides) -> PullOptions:
    base = dict(query="*", collection="eu", rows=5, batch_size=4, workers=2)
    return PullOptions(**{**base, **overrides})


def catalogue(engine: Engine) -> Counter:
    """record id → how many items carry it (must all be 1)."""
    cid = engine.catalog.collection_id("eu")
    ids = engine.catalog.ids_with_status(cid, "indexed") + engine.catalog.ids_with_status(cid, "duplicate")
    return Counter(provenance.record_id_of(v.extra) for v in engine.catalog.get_items(ids).values())


def search_cursors(fake: FakeServer) -> list[str]:
    from urllib.parse import parse_qs

    return [parse_qs(r.query)["cursor"][0] for r in fake.state.logged("/record/v2/search.json")]


class CrashAfter(SilentProgress):
    """An observer that "crashes" the job after ``n`` results were accounted for."""

    def __init__(self, n: int) -> None:
        self.n, self.done = n, 0

    def advance(self, k: int) -> None:
        self.done += k
        if self.done >= self.n:
            raise RuntimeError("simulated crash")


def test_nightly_round_with_faults_loses_and_duplicates_nothing_and_a_rerun_changes_nothing(fake, clock, engine):
    # -- pull: five pages, a 429 burst, 503s, an early page end, a missing full image --------
    fake.set_faults(rate_limited_requests=3, server_errors=2, early_page_ends=1)
    fake.state.records.get(record_id(3)).item["edmIsShownBy"] = ["/fake-media/9200999/artsnap_demo_003/gone.png"]
    summary = pull(engine, search_client(fake, clock), options(), fetcher=media_fetcher(fake, clock))
    state = summary.state
    assert summary.complete and summary.exit_code == 0 and summary.total_results == PULLABLE
    assert (state.seen, state.added, state.duplicates, state.failed_count) == (PULLABLE, PULLABLE, 0, 0)
    assert state.skipped == {}
    assert summary.pages >= 5
    held = catalogue(engine)
    assert len(held) == PULLABLE and set(held.values()) == {1}
    snapshot = fake.state.faults.snapshot()["injected"]
    assert snapshot["rate_limited_requests"] == 3 and snapshot["server_errors"] == 2
    assert snapshot["early_page_ends"] == 1

    # provenance on the items; the fallbacks to edmPreview
    items = {
        provenance.record_id_of(v.extra): v
        for v in engine.catalog.get_items(
            engine.catalog.ids_with_status(engine.catalog.collection_id("eu"), "indexed")
        ).values()
    }
    first = items[record_id(0)]
    assert first.source_path == "europeana/9200999/artsnap_demo_000.jpg" and first.title
    assert first.extra[provenance.DATA_PROVIDER] == "Artsnap Demo Museum"
    assert first.extra[provenance.RIGHTS] == "http://creativecommons.org/publicdomain/zero/1.0/"
    assert first.extra[provenance.LICENCE] == "CC0"
    assert first.extra[provenance.LANDING_PAGE] == "https://www.europeana.eu/item/9200999/artsnap_demo_000"
    assert first.extra[provenance.IMAGE_KIND] == "edmIsShownBy"
    assert items[record_id(3)].extra[provenance.IMAGE_KIND] == "edmPreview"  # full image 404

    # -- labels: the classifier proposes, the curator accepts all but one ------------------
    store = SyncStore(engine.catalog)
    model_id = engine.catalog.register_model("wikiart-style", "2026.11", "classifier", {}, None)
    from europeana_sync.fake.synthetic import synthetic_records

    style_of = {r.record_id: r.style for r in synthetic_records()}
    by_record = {rid: view.id for rid, view in items.items()}
    engine.catalog.add_machine_labels({i: [(style_of[rid], 0.9)] for rid, i in by_record.items()}, model_id)
    for rid, item_id in by_record.items():
        if rid != record_id(4):
            store.set_label_status(item_id, style_of[rid], "accepted")

    export = export_labels(store, "eu", ExportFilters(), sample_mapping())
    buffer = io.StringIO()
    write_csv(export, buffer)
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    assert len(rows) == PULLABLE - 1 and all(r["vocabulary_uri"].startswith("http://www.wikidata.org/") for r in rows)
    assert {r["record_id"] for r in rows} == set(by_record) - {record_id(4)}
    assert all(r["model_version"] == "wikiart-style@2026.11" and r["confidence"] == "0.9000" for r in rows)

    # -- push, with faults again -------------------------------------------------------------
    fake.set_faults(rate_limited_requests=2, server_errors=1, duplicate_refusals=1, paths=["/annotation"])
    pushed = push(store, europeana_target(fake, clock, store), sample_mapping(), PushOptions(collection="eu"))
    assert pushed.exit_code == 0
    assert len(pushed.created) + len(pushed.already_present) == PULLABLE - 1
    assert len(live_tags(fake)) == PULLABLE - 1 and len(set(live_tags(fake))) == PULLABLE - 1

    # -- the same night again: nothing downloaded, nothing sent, nothing new ----------------
    fake.set_faults(rate_limited_requests=0, server_errors=0, duplicate_refusals=0, paths=[])
    fake.state.clear_log()
    again = pull(engine, search_client(fake, clock), options(), fetcher=media_fetcher(fake, clock))
    assert again.complete and again.state.added == 0 and again.state.already_present == PULLABLE
    assert fake.state.logged("/fake-media") == []
    assert catalogue(engine) == held
    pushed_again = push(store, europeana_target(fake, clock, store), sample_mapping(), PushOptions(collection="eu"))
    assert pushed_again.unchanged == PULLABLE - 1 and not pushed_again.created
    assert fake.state.logged("/annotation") == []


@pytest.mark.parametrize("where", ["before the batch is ingested", "after ingest, before the checkpoint"])
def test_crash_mid_pull_resumes_from_the_checkpoint(fake, clock, engine, monkeypatch, where):
    # One record per page and per batch, so the checkpoint moves past the first page.
    client = search_client(fake, clock)
    if where.startswith("before"):
        fetcher = media_fetcher(fake, clock)
        real_fetch = fetcher.fetch

        def crashing_fetch(url: str):
            if "artsnap_demo_018" in url:
                raise RuntimeError("simulated crash")
            return real_fetch(url)

        monkeypatch.setattr(fetcher, "fetch", crashing_fetch)
        with pytest.raises(RuntimeError, match="simulated crash"):
            pull(engine, client, options(**ONE_BY_ONE), fetcher=fetcher)
    else:
        from backend.sync import checkpoints

        saves = {"n": 0}
        real_save = checkpoints.PullCheckpoints.save

        def crashing_save(self, fingerprint, state, *, done=False):
            saves["n"] += 1
            if saves["n"] == 3:
                raise RuntimeError("simulated crash")
            return real_save(self, fingerprint, state, done=done)

        monkeypatch.setattr(checkpoints.PullCheckpoints, "save", crashing_save)
        with pytest.raises(RuntimeError, match="simulated crash"):
            pull(engine, client, options(**ONE_BY_ONE), fetcher=media_fetcher(fake, clock))
        monkeypatch.setattr(checkpoints.PullCheckpoints, "save", real_save)
    stored = SyncStore(engine.catalog).checkpoints(PULL_JOB)
    assert len(stored) == 1 and stored[0].status == "running" and stored[0].state["seen"] > 0
    fake.state.clear_log()

    resumed = pull(engine, search_client(fake, clock), options(**ONE_BY_ONE), fetcher=media_fetcher(fake, clock))
    assert resumed.complete and resumed.resumed_from == stored[0].state["seen"]
    assert search_cursors(fake)[0] == stored[0].state["search"]["cursor"] != "*"  # not from page 1 again
    fetched_again = {r.path.split("/")[3] for r in fake.state.logged("/fake-media")}
    assert fetched_again <= {"artsnap_demo_018"}  # only the batch in flight, if anything
    state = resumed.state
    assert state.seen == SMALL_PULLABLE and state.skipped == {}
    assert state.added + state.already_present == SMALL_PULLABLE
    held = catalogue(engine)
    assert len(held) == SMALL_PULLABLE and set(held.values()) == {1}
    assert SyncStore(engine.catalog).checkpoints(PULL_JOB)[0].status == "done"


def test_rate_limit_without_end_stops_cleanly_then_resumes(fake, clock, engine):
    class LimitAfterFirstPage(CrashAfter):
        def advance(self, k: int) -> None:
            self.done += k
            if self.done >= 2:
                fake.set_faults(rate_limited_requests=-1, paths=["/record/v2/search.json"])

    stopped = pull(
        engine,
        search_client(fake, clock),
        options(**SMALL),
        fetcher=media_fetcher(fake, clock),
        observer=LimitAfterFirstPage(0),
    )
    assert not stopped.complete and stopped.exit_code == EXIT_STOPPED
    assert "rate limited by the Search API" in stopped.stopped and "resets in 2 s" in stopped.stopped
    assert any("run the same command again" in line for line in stopped.lines())
    fake.set_faults(rate_limited_requests=0)
    resumed = pull(engine, search_client(fake, clock), options(**SMALL), fetcher=media_fetcher(fake, clock))
    assert resumed.complete and resumed.resumed_from == stopped.state.seen > 0
    assert resumed.state.added == SMALL_PULLABLE and set(catalogue(engine).values()) == {1}


def test_results_that_keep_ending_early_stop_then_resume(fake, clock, engine):
    fake.set_faults(early_page_ends=3)  # more than the job's two re-asks
    stopped = pull(engine, search_client(fake, clock), options(**SMALL), fetcher=media_fetcher(fake, clock))
    assert stopped.exit_code == EXIT_STOPPED and "ended early" in stopped.stopped
    assert stopped.state.seen == 2
    resumed = pull(engine, search_client(fake, clock), options(**SMALL), fetcher=media_fetcher(fake, clock))
    assert resumed.complete and resumed.state.added == SMALL_PULLABLE


def test_failed_download_is_recorded_and_the_job_goes_on(fake, clock, engine):
    fake.set_faults(server_errors=-1, paths=["/fake-media/9200999/artsnap_demo_004/"])
    summary = pull(
        engine,
        search_client(fake, clock, max_attempts=2),
        options(**SMALL, limit=3),
        fetcher=media_fetcher(fake, clock),
    )
    assert summary.stopped == "limit of 3 results reached" and not summary.complete
    assert summary.state.failed_count == 1 and summary.exit_code == 1
    [failure] = summary.state.failed
    assert failure["record_id"] == record_id(4)
    assert "edmIsShownBy" in failure["reason"] and "edmPreview" in failure["reason"] and "503" in failure["reason"]
    fake.set_faults(server_errors=0)
    rest = pull(engine, search_client(fake, clock), options(**SMALL), fetcher=media_fetcher(fake, clock))
    assert rest.complete and rest.resumed_from == 3
    # the failed record is picked up by the next full run
    again = pull(engine, search_client(fake, clock), options(**SMALL), fetcher=media_fetcher(fake, clock))
    assert again.state.added == 1 and len(catalogue(engine)) == SMALL_PULLABLE


def test_slow_responses_time_out_and_are_retried(fake, clock, engine):
    fake.set_faults(slow_requests=2, slow_seconds=0.6, paths=["/record/v2/search.json"])
    summary = pull(
        engine, search_client(fake, clock, read_timeout=0.25), options(**SMALL), fetcher=media_fetcher(fake, clock)
    )
    assert summary.complete and summary.state.added == SMALL_PULLABLE and summary.state.failed_count == 0
    assert fake.state.faults.snapshot()["injected"]["slow_requests"] == 2
    assert len(clock.sleeps) >= 2  # each timeout was followed by a backoff


def test_reusability_is_sent_and_extra_licences_can_be_allowed(fake, clock, engine):
    summary = pull(
        engine,
        search_client(fake, clock),
        options(**SMALL, reusability="open,restricted"),
        fetcher=media_fetcher(fake, clock),
    )
    assert "reusability=open%2Crestricted" in fake.state.logged("/record/v2/search.json")[0].query
    assert summary.state.skipped == {} and summary.state.added == SMALL_PULLABLE + 1  # the CC BY-NC one too
    allowed = pull(
        engine,
        search_client(fake, clock),
        options(**SMALL, allow_licences=("CC-BY-NC",), restart=True),
        fetcher=media_fetcher(fake, clock),
    )
    assert allowed.state.skipped == {} and allowed.state.already_present == SMALL_PULLABLE + 1


def test_cli_pull_prints_a_json_summary(fake, make_settings, capsys):
    data_dir = make_settings().data_dir
    code = main(
        [
            "--data-dir",
            str(data_dir),
            "europeana",
            "pull",
            "baroque",
            "--collection",
            "eu",
            "--api-url",
            fake.url,
            "--api-key",
            "test-key",
            "--rows",
            "3",
            "--json",
            "--quiet",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0
    summary = json.loads(captured.out)  # records 1, 8, 15 pulled; 22 (no image) is filtered out by the API
    assert summary["added"] == 3 and summary["complete"] and summary["skipped_items"] == []
    assert summary["exit_code"] == 0
    assert (
        main(
            [
                "--data-dir",
                str(data_dir),
                "europeana",
                "pull",
                "x",
                "--collection",
                "eu",
                "--api-url",
                fake.url,
                "--api-key",
                "",
            ]
        )
        == 78  # a configuration problem: cron must not retry it
    )
    assert "no API key" in capsys.readouterr().err


class Notes(SilentProgress):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def message(self, text, level=Level.NOTE):
        self.lines.append(text)


def test_downloads_go_straight_to_ingest_each_accepted_image_decoded_once(fake, clock, engine, monkeypatch):
    from PIL import Image

    html = b"<!DOCTYPE html><html><body>Image not available</body></html>"
    fake.state.media_cache[f"{record_id(3)}:full"] = html  # full image is a web page: the preview is used
    fake.state.media_cache[f"{record_id(10)}:full"] = html + b" "  # both images are web pages: failed
    fake.state.media_cache[f"{record_id(10)}:preview"] = html + b"  "
    opened: Counter = Counter()
    real_open = Image.open

    def counting_open(fp, *args, **kwargs):
        if isinstance(fp, io.BytesIO):
            opened[fp.getvalue()] += 1
        return real_open(fp, *args, **kwargs)

    monkeypatch.setattr(Image, "open", counting_open)
    notes = Notes()
    summary = pull(
        engine, search_client(fake, clock), options(**SMALL), fetcher=media_fetcher(fake, clock), observer=notes
    )

    state = summary.state
    assert summary.complete and (state.added, state.failed_count) == (SMALL_PULLABLE - 1, 1)
    [failure] = state.failed
    assert failure["record_id"] == record_id(10)
    assert failure["reason"].startswith("download failed: edmIsShownBy: ") and "edmPreview: " in failure["reason"]
    assert notes.lines == [f"failed: {record_id(10)}: {failure['reason']}"]
    cid = engine.catalog.collection_id("eu")
    items = engine.catalog.get_items(engine.catalog.ids_with_status(cid, "indexed")).values()
    kinds = {provenance.record_id_of(v.extra): v.extra[provenance.IMAGE_KIND] for v in items}
    assert kinds == {
        record_id(3): "edmPreview",
        record_id(4): "edmIsShownBy",
        record_id(18): "edmIsShownBy",
    }
    accepted = [
        fake.state.media_cache[f"{rid}:{'full' if kind == 'edmIsShownBy' else 'preview'}"]
        for rid, kind in kinds.items()
    ]
    assert [opened[data] for data in accepted] == [1, 1, 1]  # checked and ingested with one decode
    assert not (engine.settings.data_dir / "sync").exists()  # nothing staged on disk


def test_an_ingest_failure_is_recorded_against_its_record(fake, clock, engine, monkeypatch):
    from dataclasses import replace

    from backend.sync import pull as pull_module
    from dataset_tools.readers import SourceReadError

    real_record = pull_module._record

    def lost_in_transit(accepted):
        record = real_record(accepted)
        if accepted.candidate.item.id != record_id(10):
            return record

        def read() -> bytes:
            raise SourceReadError(record.source_path, "bytes lost")

        return replace(record, decoded=None, _reader=read)

    monkeypatch.setattr(pull_module, "_record", lost_in_transit)
    notes = Notes()
    summary = pull(
        engine, search_client(fake, clock), options(**SMALL), fetcher=media_fetcher(fake, clock), observer=notes
    )
    reason = f"ingest: unreadable: {provenance.source_path_for(record_id(10))}: bytes lost"
    assert summary.state.failed == [{"record_id": record_id(10), "reason": reason}]
    assert summary.state.added == SMALL_PULLABLE - 1 and summary.exit_code == 1
    assert f"  failed   {record_id(10)}: {reason}" in summary.lines()
    assert notes.lines == [f"failed: {record_id(10)}: {reason}"]


# -- issue 14: what the first real run would have hit ------------------------------------------


def test_without_reusability_the_pull_still_asks_only_for_open_images(fake, clock, engine):
    pull(engine, search_client(fake, clock), options(**SMALL), fetcher=media_fetcher(fake, clock))
    from urllib.parse import parse_qs

    params = parse_qs(fake.state.logged("/record/v2/search.json")[0].query)
    assert params["reusability"] == ["open"]  # in-copyright results are never paged through
    assert params["media"] == ["true"] and params["thumbnail"] == ["true"]


def test_europeanas_placeholder_icon_is_never_ingested_as_the_artwork(fake, clock, engine):
    # Every full image is a provider's web page and every preview the Thumbnail API's icon.
    fake.set_faults(html_full_images=-1, placeholder_previews=-1)
    summary = pull(engine, search_client(fake, clock), options(**SMALL), fetcher=media_fetcher(fake, clock))
    state = summary.state
    assert (state.added, state.failed_count) == (0, 0)
    assert state.skipped == {"no image: the preview is Europeana's 'no thumbnail' placeholder": SMALL_PULLABLE}
    assert engine.catalog.collection_info("eu").items == 0  # no record became a "duplicate" of one icon
    assert summary.exit_code == 0  # nothing to retry


def test_an_image_url_on_a_private_address_is_refused_and_the_preview_used(fake, clock, engine):
    # A record whose edmIsShownBy points at a service inside our network (here: another
    # server on loopback that answers with a perfectly good image) must not be fetched.
    with FakeServer() as internal:
        fake.state.records.get(record_id(3)).item["edmIsShownBy"] = [
            f"{internal.url}/fake-media/9200999/artsnap_demo_004/full"
        ]
        summary = pull(engine, search_client(fake, clock), options(**SMALL), fetcher=media_fetcher(fake, clock))
        assert internal.state.logged("/fake-media") == []  # never asked
    assert summary.state.added == SMALL_PULLABLE and summary.state.failed_count == 0
    cid = engine.catalog.collection_id("eu")
    items = engine.catalog.get_items(engine.catalog.ids_with_status(cid, "indexed")).values()
    kinds = {provenance.record_id_of(v.extra): v.extra[provenance.IMAGE_KIND] for v in items}
    assert kinds[record_id(3)] == "edmPreview"


def test_a_refused_api_key_exits_with_the_configuration_code_not_try_again_later(clock, engine):
    from europeana_sync.exit_codes import EXIT_CONFIG
    from europeana_sync.fake.auth import FakeAccounts

    with FakeServer(accounts=FakeAccounts(api_keys=frozenset({"the-right-key"}))) as strict:
        summary = pull(engine, search_client(strict, clock), options(**SMALL), fetcher=media_fetcher(strict, clock))
    assert not summary.complete and summary.exit_code == EXIT_CONFIG
    assert "API key" in summary.stopped or "key" in summary.stopped.lower()


def test_cli_check_runs_the_dry_run_against_the_fake_and_writes_nothing(fake, make_settings, capsys):
    code = main(
        [
            "--data-dir",
            str(make_settings().data_dir),
            "europeana",
            "check",
            "baroque",
            "--api-url",
            fake.url,
            "--api-key",
            "test-key",
            "--json",
        ]  # fmt: skip
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report
    steps = {c["name"]: c["status"] for c in report["checks"]}
    assert "passed" in steps.values() and "failed" not in steps.values()
    assert fake.state.logged("/annotation") == []
