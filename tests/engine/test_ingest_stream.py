"""Ingest from records built in memory (no SOURCE on disk): what the Europeana pull hands over."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from backend.engine import ingest as ingest_module
from backend.engine.services import Engine
from dataset_tools.progress import Level, SilentProgress
from dataset_tools.readers import RecordSource, SourceReadError, SourceRecord


class Recorder(SilentProgress):
    """Everything an observer hears, to compare with what a user would see."""

    def __init__(self) -> None:
        self.total: int | None = None
        self.done = 0
        self.lines: list[tuple[Level, str]] = []

    def start(self, total: int | None, done: int = 0) -> None:
        self.total, self.done = total, done

    def advance(self, n: int = 1) -> None:
        self.done += n

    def message(self, text: str, level: Level = Level.NOTE) -> None:
        self.lines.append((level, text))


def _records(paint_jpeg: Callable[..., bytes]) -> list[SourceRecord]:
    return [
        SourceRecord.from_bytes(
            f"memory/{fam}_{i}.jpg",
            paint_jpeg(fam, i, size=96),
            labels=(fam,),
            title=f"{fam.title()} no. {i}",
            extra={"record_id": f"/1/{fam}_{i}"},
        )
        for fam in ("mondrian", "cubist", "ink_wash")
        for i in range(4)
    ]


def _items(eng: Engine, collection: str) -> dict[str, object]:
    cid = eng.catalog.collection_id(collection)
    ids = eng.catalog.ids_with_status(cid, "indexed") + eng.catalog.ids_with_status(cid, "duplicate")
    return {v.source_path: v for v in eng.catalog.get_items(ids).values()}


def test_records_in_memory_are_ingested_and_a_crashed_run_resumes(
    tmp_path: Path, make_settings, paint_jpeg, assert_consistent
) -> None:
    records = _records(paint_jpeg)
    settings = make_settings(ingest_batch=4)
    eng = Engine.open(settings)

    class Crash(Exception):
        pass

    class CrashInSecondBatch(Recorder):
        def advance(self, n: int = 1) -> None:
            super().advance(n)
            if self.done > 4:  # the 1st batch is flushed, the 2nd is stored but not yet indexed
                raise Crash("power cut")

    with pytest.raises(Crash):
        eng.ingest.ingest(RecordSource(records), "mem", observer=CrashInSecondBatch(), flush_every=4)
    eng.close()

    eng = Engine.open(settings)  # the next run, with the same records
    seen = Recorder()
    summary = eng.ingest.ingest(RecordSource(records, kind="test", root="in memory"), "mem", observer=seen)
    assert summary.source == "in memory" and not summary.failed
    assert (summary.already_done, summary.reembedded, summary.added) == (8, 4, len(records) - 8)
    assert (seen.total, seen.done) == (len(records), len(records))
    items = _items(eng, "mem")
    assert sorted(items) == sorted(r.source_path for r in records)  # nothing lost, nothing twice
    first = items["memory/cubist_2.jpg"]
    assert first.title == "Cubist no. 2" and first.label_names == ["cubist"]
    assert first.extra == {"record_id": "/1/cubist_2"}
    assert_consistent(eng, "mem")
    assert not (settings.data_dir / "memory").exists()  # the records were never files
    eng.close()


def test_per_record_errors_from_a_stream_reach_the_observer_and_the_summary(engine_with_records) -> None:
    eng, records = engine_with_records
    some_jpeg = records[0].read()

    def vanished() -> bytes:
        raise SourceReadError("bad/vanished.jpg", "the download was lost")

    bad = [
        SourceRecord.from_bytes("bad/empty.jpg", b""),
        SourceRecord.from_bytes("bad/truncated.jpg", some_jpeg[: len(some_jpeg) // 2]),
        SourceRecord(source_path="bad/vanished.jpg", _reader=vanished),
        SourceRecord.from_bytes("again/copy.jpg", some_jpeg),
    ]
    seen = Recorder()
    summary = eng.ingest.ingest(RecordSource([*records[:2], *bad]), "errors", observer=seen)

    codes = {e.source_path: e.code for e in summary.failed}
    assert codes == {"bad/empty.jpg": "empty", "bad/truncated.jpg": "truncated", "bad/vanished.jpg": "unreadable"}
    errors = [text for level, text in seen.lines if level is Level.ERROR]
    assert sorted(errors) == sorted(f"error: {e.source_path}: {e.code}: {e.message}" for e in summary.failed)
    assert "error: bad/vanished.jpg: unreadable: bad/vanished.jpg: the download was lost" in errors
    notes = [text for level, text in seen.lines if level is Level.NOTE]
    assert notes == [
        f"duplicate: again/copy.jpg is an exact duplicate of {records[0].source_path} (linked, not indexed)"
    ]
    assert (summary.added, summary.exact_duplicates) == (2, 1)
    assert (seen.total, seen.done) == (6, 6)


def test_an_image_its_producer_decoded_is_not_decoded_again(engine_with_records, monkeypatch) -> None:
    eng, records = engine_with_records
    handed_over = [
        SourceRecord.from_bytes(r.source_path, r.read(), decoded=eng.ingest.decode(r.read())) for r in records[:3]
    ]
    calls: list[int] = []
    real = ingest_module.decode_image

    def counting(data: bytes, **kwargs: object):
        calls.append(len(data))
        return real(data, **kwargs)

    monkeypatch.setattr(ingest_module, "decode_image", counting)
    summary = eng.ingest.ingest(RecordSource(handed_over), "decoded")
    assert summary.added == 3 and calls == []
    summary = eng.ingest.ingest(RecordSource(records[3:5]), "decoded")  # plain records are decoded here
    assert summary.added == 2 and len(calls) == 2


@pytest.fixture
def engine_with_records(make_settings, paint_jpeg):
    eng = Engine.open(make_settings())
    yield eng, _records(paint_jpeg)
    eng.close()
