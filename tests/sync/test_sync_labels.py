"""Curator label export (CSV / JSON-LD, filters, validated mapping) and label review."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from backend.cli import main
from backend.engine.catalog.sync_store import SyncStore
from backend.sync.export_labels import CSV_COLUMNS, ExportFilters, export_labels, jsonld_document, write_csv
from backend.sync.review import review_label
from europeana_sync.vocabulary import SAMPLE_WIKIART_STYLES
from tests.sync.sync_support import MODEL, open_catalog, record_id, sample_mapping, seed_labelled_collection

WD = {
    "art_nouveau": "http://www.wikidata.org/entity/Q34636",
    "baroque": "http://www.wikidata.org/entity/Q37853",
    "expressionism": "http://www.wikidata.org/entity/Q80113",
}
MODEL_VERSION = f"{MODEL[0]}@{MODEL[1]}"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def store(data_dir: Path):
    catalog = open_catalog(data_dir)
    yield SyncStore(catalog)
    catalog.close()


@pytest.fixture
def ids(store: SyncStore) -> list[int]:
    # records 0..5: machine labels art_nouveau, baroque, expressionism, impressionism,
    # post_impressionism, romanticism (0.55 … 0.80); record 2 also has a curator label.
    items = seed_labelled_collection(store.catalog, count=6, curator={2: "expressionism"})
    store.set_label_status(items[0], "art_nouveau", "accepted", source="machine")
    store.set_label_status(items[1], "baroque", "accepted", source="machine")
    store.set_label_status(items[3], "impressionism", "rejected", source="machine")
    return items


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_export_has_every_column_and_only_accepted_labels(store, ids):
    export = export_labels(store, "eu", ExportFilters(), sample_mapping())
    buffer = io.StringIO()
    write_csv(export, buffer)
    text = buffer.getvalue()
    assert text.splitlines()[0] == ",".join(CSV_COLUMNS)
    rows = csv_rows(text)
    assert [(r["record_id"], r["label"], r["label_source"]) for r in rows] == [
        (record_id(0), "art_nouveau", "machine"),
        (record_id(1), "baroque", "machine"),
        (record_id(2), "expressionism", "curator"),
    ]
    first, second, curator = rows
    assert first == {
        "record_id": record_id(0),
        "item_id": str(ids[0]),
        "source_path": "europeana/9200999/artsnap_demo_000.jpg",
        "title": "Study no. 0",
        "label": "art_nouveau",
        "vocabulary_uri": WD["art_nouveau"],
        "vocabulary_label": "Art Nouveau",
        "confidence": "0.5500",
        "model_version": MODEL_VERSION,
        "label_source": "machine",
        "curator_status": "accepted",
    }
    assert second["title"] == '\'=HYPERLINK("http://x")'  # formula neutralised for spreadsheets
    assert curator["confidence"] == "" and curator["model_version"] == ""
    assert curator["vocabulary_uri"] == WD["expressionism"]


def test_filters_by_status_source_and_confidence(store, ids):
    def labels(**words):
        return [
            (r.record_id, r.label, r.curator_status)
            for r in export_labels(store, "eu", ExportFilters.from_words(**words)).rows
        ]

    assert labels(status="rejected") == [(record_id(3), "impressionism", "rejected")]
    assert labels(status="proposed", source="machine") == [
        (record_id(2), "expressionism", "proposed"),
        (record_id(4), "post_impressionism", "proposed"),
        (record_id(5), "romanticism", "proposed"),
    ]
    # curator labels count as certain; machine labels below the threshold drop out
    assert labels(status="any", min_confidence=0.72) == [
        (record_id(2), "expressionism", "accepted"),
        (record_id(4), "post_impressionism", "proposed"),
        (record_id(5), "romanticism", "proposed"),
    ]
    assert len(labels(status="any", source="any")) == 7
    with pytest.raises(ValueError, match="between 0 and 1"):
        ExportFilters(min_confidence=1.5)


def test_unreviewed_machine_labels_must_reach_their_models_trusted_threshold(store, ids):
    """A model card's trusted threshold (set on validation for a stated precision) keeps its
    unreviewed labels below it out of the export; a curator's verdict outranks it."""
    from tests.sync.sync_support import MODEL

    store.catalog.register_model(*MODEL, "classifier", {"extra": {"trusted_threshold": 0.78}}, None)
    rows = export_labels(store, "eu", ExportFilters.from_words(status="any", source="machine")).rows
    assert [(r.record_id, r.curator_status) for r in rows] == [
        (record_id(0), "accepted"),  # 0.55, but a curator accepted it
        (record_id(1), "accepted"),
        (record_id(3), "rejected"),
        (record_id(5), "proposed"),  # 0.80: the only unreviewed label that passes
    ]


def test_jsonld_export_is_a_collection_of_tagging_annotations(store, ids):
    export = export_labels(store, "eu", ExportFilters(statuses=None), sample_mapping())
    doc = json.loads(json.dumps(jsonld_document(export)))
    assert doc["@context"][0] == "http://www.w3.org/ns/anno.jsonld"
    terms = doc["@context"][1]
    assert terms["confidence"]["@id"] == "artsnap:confidence" and terms["artsnap"].startswith("urn:")
    assert doc["type"] == "AnnotationCollection" and doc["total"] == 7
    items = doc["first"]["items"]
    assert len(items) == 7 and all(a["type"] == "Annotation" and a["motivation"] == "tagging" for a in items)
    first = items[0]
    assert first == {
        "type": "Annotation",
        "motivation": "tagging",
        "body": WD["art_nouveau"],
        "target": "http://data.europeana.eu/item/9200999/artsnap_demo_000",
        "category": "art_nouveau",
        "labelSource": "machine",
        "curatorStatus": "accepted",
        "itemId": ids[0],
        "recordId": record_id(0),
        "confidence": 0.55,
        "modelVersion": MODEL_VERSION,
    }
    rejected = next(a for a in items if a["curatorStatus"] == "rejected")
    assert rejected["category"] == "impressionism" and rejected["target"].endswith("artsnap_demo_003")


def test_labels_without_mapping_are_exported_without_uri_and_reported(data_dir, ids, tmp_path, capsys):
    mapping_file = tmp_path / "partial.csv"
    mapping_file.write_text("category,uri,label\nbaroque,http://www.wikidata.org/entity/Q37853,Baroque\n")
    out = tmp_path / "labels.csv"
    code = main(
        [
            "--data-dir",
            str(data_dir),
            "labels",
            "export",
            "--collection",
            "eu",
            "--mapping",
            str(mapping_file),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    rows = csv_rows(out.read_text())
    assert {r["label"]: r["vocabulary_uri"] for r in rows} == {
        "art_nouveau": "",
        "baroque": WD["baroque"],
        "expressionism": "",
    }
    err = capsys.readouterr().err
    assert "label 'art_nouveau' has no vocabulary URI" in err and "'expressionism' has no" in err


def test_invalid_mapping_fails_listing_every_error(data_dir, store, ids, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "format": "artsnap-vocabulary-mapping/1",
                "categories": {
                    "baroque": [{"uri": "https://www.wikidata.org/wiki/Q37853"}],
                    "impressionism": [
                        {"uri": "http://www.wikidata.org/entity/Q40415"},
                        {"uri": "http://www.wikidata.org/entity/Q40415"},
                    ],
                    "bad name!": [{"uri": "http://www.wikidata.org/entity/Q1"}],
                    "symbolism": [{"uri": "http://example.org/symbolism"}],
                },
            }
        )
    )
    code = main(["--data-dir", str(data_dir), "labels", "export", "--collection", "eu", "--mapping", str(bad)])
    err = capsys.readouterr().err
    assert code == 2
    assert "4 error(s)" in err
    assert "use http://www.wikidata.org/entity/Q37853" in err  # canonical form suggested
    assert "listed twice" in err and "invalid category name" in err and "neither a Getty AAT" in err


def test_cli_jsonld_to_stdout_and_unknown_collection(data_dir, ids, capsys):
    assert (
        main(
            [
                "--data-dir",
                str(data_dir),
                "labels",
                "export",
                "--collection",
                "eu",
                "--format",
                "jsonld",
                "--mapping",
                str(SAMPLE_WIKIART_STYLES),
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert json.loads(captured.out)["total"] == 3
    assert "exported 3 labels as jsonld" in captured.err
    assert main(["--data-dir", str(data_dir), "labels", "export", "--collection", "nope"]) == 2
    assert "unknown collection 'nope'" in capsys.readouterr().err


def test_review_accepts_rejects_and_adds(data_dir, store, ids, capsys):
    assert (
        main(
            [
                "--data-dir",
                str(data_dir),
                "labels",
                "review",
                "--item",
                str(ids[4]),
                "--label",
                "post_impressionism",
                "--accept",
            ]
        )
        == 0
    )
    assert "proposed → accepted" in capsys.readouterr().err
    assert (
        main(
            [
                "--data-dir",
                str(data_dir),
                "labels",
                "review",
                "--item",
                str(ids[0]),
                "--label",
                "art_nouveau",
                "--reject",
            ]
        )
        == 0
    )
    # accepting a label the item lacks adds it as a curator label
    result = review_label(store, ids[5], "symbolism", "accepted")
    assert [(c.source, c.before, c.after) for c in result.changes] == [("curator", None, "accepted")]
    by_item = {
        r.item_id: (r.label, r.label_source)
        for r in export_labels(store, "eu", ExportFilters()).rows
        if r.item_id in (ids[0], ids[4], ids[5])
    }
    assert by_item == {ids[4]: ("post_impressionism", "machine"), ids[5]: ("symbolism", "curator")}
    # rejecting a label the item does not have, or an unknown item, is an error
    assert (
        main(["--data-dir", str(data_dir), "labels", "review", "--item", str(ids[0]), "--label", "cubism", "--reject"])
        == 2
    )
    assert (
        main(["--data-dir", str(data_dir), "labels", "review", "--item", "9999", "--label", "baroque", "--accept"]) == 2
    )
    err = capsys.readouterr().err
    assert "has no label 'cubism'" in err and "unknown item 9999" in err
