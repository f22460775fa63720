"""Category → vocabulary URI mapping files: formats, validation, the WikiArt sample."""

from __future__ import annotations

import json

import pytest

from europeana_sync.vocabulary import (
    SAMPLE_WIKIART_STYLES,
    Vocabulary,
    VocabularyMappingError,
    canonical_uri,
    load_mapping,
    mapping_from_entries,
    read_entries,
    to_json_document,
    validate_entries,
)

STYLES = ["art_nouveau", "baroque", "expressionism", "impressionism", "post_impressionism", "romanticism", "symbolism"]
WD_IMPRESSIONISM = "http://www.wikidata.org/entity/Q40415"
WD_BAROQUE = "http://www.wikidata.org/entity/Q37853"
AAT_EXAMPLE = "http://vocab.getty.edu/aat/300000001"  # shape only; not a claim about that term


def write_json(tmp_path, categories, name="mapping.json"):
    path = tmp_path / name
    path.write_text(json.dumps({"format": "artsnap-vocabulary-mapping/1", "categories": categories}))
    return path


def test_sample_wikiart_mapping_is_valid_and_complete():
    mapping, report = load_mapping(SAMPLE_WIKIART_STYLES, STYLES)
    assert mapping.categories == STYLES
    assert report.ok and report.warnings == [] and report.unmapped_categories == []
    assert mapping.uris_for("impressionism") == (WD_IMPRESSIONISM,)
    assert all(mapping.preferred(style).vocabulary is Vocabulary.WIKIDATA for style in STYLES)
    assert mapping.category_of(WD_BAROQUE) == "baroque"


def test_json_and_csv_read_the_same(tmp_path):
    json_path = write_json(
        tmp_path,
        {"impressionism": [{"uri": WD_IMPRESSIONISM, "label": "Impressionism"}, AAT_EXAMPLE], "baroque": WD_BAROQUE},
    )
    csv_path = tmp_path / "mapping.csv"
    csv_path.write_text(
        "category,uri,label\n"
        f"impressionism,{WD_IMPRESSIONISM},Impressionism\n"
        f"impressionism,{AAT_EXAMPLE},\n"
        "\n"
        f"baroque,{WD_BAROQUE},\n"
    )
    from_json = mapping_from_entries(read_entries(json_path))
    from_csv = mapping_from_entries(read_entries(csv_path))
    assert from_json == from_csv
    assert from_json.preferred("impressionism", order=[Vocabulary.AAT]).uri == AAT_EXAMPLE


def test_round_trip_through_json_document(tmp_path):
    mapping, _ = load_mapping(SAMPLE_WIKIART_STYLES)
    path = tmp_path / "copy.json"
    path.write_text(json.dumps(to_json_document(mapping)))
    assert load_mapping(path)[0] == mapping


@pytest.mark.parametrize(
    "uri, hint",
    [
        ("https://www.wikidata.org/wiki/Q40415", "http://www.wikidata.org/entity/Q40415"),
        ("https://www.wikidata.org/entity/q40415", "http://www.wikidata.org/entity/Q40415"),
        ("http://vocab.getty.edu/page/aat/300000001", AAT_EXAMPLE),
        ("https://vocab.getty.edu/aat/300000001.json", AAT_EXAMPLE),
    ],
)
def test_non_canonical_uris_are_refused_with_the_canonical_form(tmp_path, uri, hint):
    assert canonical_uri(uri) == hint
    with pytest.raises(VocabularyMappingError) as caught:
        load_mapping(write_json(tmp_path, {"impressionism": [uri]}))
    assert hint in str(caught.value)


@pytest.mark.parametrize(
    "uri",
    [
        "",
        "Q40415",
        "http://example.org/impressionism",
        "http://vocab.getty.edu/aat/12345",
        "http://www.wikidata.org/entity/P31",
    ],
)
def test_uris_of_other_shapes_are_refused(uri):
    report = validate_entries(mapping_entries({"impressionism": [uri]}))
    assert not report.ok and "neither a Getty AAT" in report.errors[0].message


def mapping_entries(categories):
    from europeana_sync.vocabulary import entries_from_json

    return entries_from_json({"categories": categories}, source="test")


def test_duplicates_are_errors_and_all_are_reported_at_once():
    report = validate_entries(
        mapping_entries(
            {
                "impressionism": [WD_IMPRESSIONISM, WD_IMPRESSIONISM],
                "baroque": [WD_IMPRESSIONISM],
                "Baroque": [WD_BAROQUE],
                "bad name!": [WD_BAROQUE],
            }
        )
    )
    messages = [issue.message for issue in report.errors]
    assert len(messages) == 4
    assert any("listed twice" in m for m in messages)
    assert any("mapped to both 'impressionism' and 'baroque'" in m for m in messages)
    assert any("only in case" in m for m in messages)
    assert any("invalid category name" in m for m in messages)
    assert all(issue.where.startswith("test: categories.") for issue in report.errors)


def test_unknown_categories_are_errors_and_unmapped_labels_warnings():
    report = validate_entries(
        mapping_entries({"impresionism": [WD_IMPRESSIONISM], "baroque": [WD_BAROQUE]}), known_categories=STYLES
    )
    assert report.unknown_categories == ["impresionism"]
    assert "impresionism" in report.errors[0].message and not report.ok
    assert report.unmapped_categories == [s for s in STYLES if s != "baroque"]
    assert len(report.warnings) == 6


def test_csv_errors_name_the_line(tmp_path):
    path = tmp_path / "mapping.csv"
    path.write_text(f"category,uri\nimpressionism,{WD_IMPRESSIONISM}\nbaroque,not-a-uri\n")
    with pytest.raises(VocabularyMappingError) as caught:
        load_mapping(path)
    assert "mapping.csv:3" in str(caught.value)


def test_unreadable_files_are_refused(tmp_path):
    (tmp_path / "m.yaml").write_text("impressionism: x")
    with pytest.raises(ValueError, match=".json or .csv"):
        read_entries(tmp_path / "m.yaml")
    (tmp_path / "m.csv").write_text("name,link\nimpressionism,x\n")
    with pytest.raises(ValueError, match="header"):
        read_entries(tmp_path / "m.csv")
    (tmp_path / "m.json").write_text('{"format": "other/2", "categories": {}}')
    with pytest.raises(ValueError, match="unsupported format"):
        read_entries(tmp_path / "m.json")
