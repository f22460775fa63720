"""The ``artsnap`` command line: in-process through ``main()``, and once as a real program."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from backend.cli import main

FAMILIES = ("seascape", "cubist", "portrait")


@pytest.fixture
def source(tmp_path: Path, paint_jpeg) -> Path:
    root = tmp_path / "paintings"
    for fam in FAMILIES:
        (root / fam).mkdir(parents=True)
        for i in range(3):
            (root / fam / f"{fam}_{i}.jpg").write_bytes(paint_jpeg(fam, i))
    return root


@pytest.fixture
def data_dir(make_settings) -> Path:
    return make_settings().data_dir


def json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_ingest_then_search_prints_one_json_object_per_query(source: Path, data_dir: Path, capsys) -> None:
    assert main(["--data-dir", str(data_dir), "ingest", str(source), "--collection", "art", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "art: 9 added" in err

    queries = [str(source / "cubist/cubist_1.jpg"), str(source / "portrait/portrait_2.jpg")]
    rc = main(["--data-dir", str(data_dir), "search", *queries, "--collection", "art", "--top-k", "4", "--json"])
    assert rc == 0
    lines = json_lines(capsys.readouterr().out)
    assert [line["query"] for line in lines] == queries
    for line, rel in zip(lines, ("cubist/cubist_1.jpg", "portrait/portrait_2.jpg")):
        assert len(line["results"]) == 4
        top = line["results"][0]
        assert {"id", "source_path", "score", "labels"} <= set(top)
        assert top["source_path"] == rel and top["score"] == pytest.approx(1.0, abs=2e-3)
        assert [r["score"] for r in line["results"]] == sorted((r["score"] for r in line["results"]), reverse=True)
        assert "match" in line and len(line["regions"]) == 1  # the recognition fields (DESIGN.md)
        assert len(line["regions"][0]["corners"]) == 4 and line["regions"][0]["results"] == line["results"]


def test_a_bad_query_file_gets_an_error_line_and_the_others_still_answer(
    source: Path, data_dir: Path, tmp_path: Path, capsys
) -> None:
    assert main(["--data-dir", str(data_dir), "ingest", str(source), "--collection", "art", "--quiet", "--json"]) == 0
    summary = json_lines(capsys.readouterr().out)[-1]
    assert summary["added"] == 9 and summary["failed"] == []
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    good = str(source / "seascape/seascape_0.jpg")
    queries = [str(notes), good, str(tmp_path / "missing.jpg"), str(source / "cubist/cubist_2.jpg")]
    rc = main(["--data-dir", str(data_dir), "search", *queries, "--collection", "art", "--top-k", "2", "--json"])
    captured = capsys.readouterr()
    assert rc == 0
    lines = json_lines(captured.out)
    assert [line["query"] for line in lines] == queries
    assert lines[0]["error"]["code"] == "not_an_image" and lines[0]["error"]["message"]
    assert lines[2]["error"]["code"] == "unreadable"
    assert lines[1]["results"][0]["source_path"] == "seascape/seascape_0.jpg"
    assert lines[3]["results"][0]["source_path"] == "cubist/cubist_2.jpg"
    assert f"error: {notes}" in captured.err
    # when every query fails, the exit status says so
    assert main(["--data-dir", str(data_dir), "search", str(notes), "--collection", "art", "--json"]) == 1


def test_unknown_collection_exits_2_and_names_the_known_ones(source: Path, data_dir: Path, capsys) -> None:
    img = str(source / "cubist/cubist_0.jpg")
    assert main(["--data-dir", str(data_dir), "search", img, "--collection", "nope", "--json"]) == 2
    err = capsys.readouterr().err
    assert "'nope'" in err and "artsnap ingest" in err  # nothing ingested yet: says what to do
    main(["--data-dir", str(data_dir), "ingest", str(source), "--collection", "art", "--quiet"])
    capsys.readouterr()
    assert main(["--data-dir", str(data_dir), "search", img, "--collection", "nope"]) == 2
    captured = capsys.readouterr()
    assert "'nope'" in captured.err and "art" in captured.err and captured.out == ""


def test_ingest_reports_bad_files_per_line_and_a_missing_source(
    source: Path, data_dir: Path, tmp_path: Path, capsys
) -> None:
    (source / "cubist" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (source / "cubist" / "empty.png").write_bytes(b"")
    assert main(["--data-dir", str(data_dir), "ingest", str(source), "--collection", "art"]) == 0
    err = capsys.readouterr().err
    assert "error: cubist/broken.jpg: truncated" in err
    assert "error: cubist/empty.png: empty" in err
    assert "9 added" in err and "2 failed" in err
    assert main(["--data-dir", str(data_dir), "ingest", str(tmp_path / "nowhere"), "--collection", "art"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["--data-dir", str(data_dir), "collections", "--json"]) == 0
    (info,) = json.loads(capsys.readouterr().out)
    assert info["name"] == "art" and info["indexed"] == 9 and info["labels"] == {f: 3 for f in FAMILIES}
    assert info["local_features"]["exists"] and info["local_features"]["items"] == 9


def test_the_installed_console_script(source: Path, data_dir: Path, capsys) -> None:
    exe = Path(sys.executable).parent / "artsnap"
    if not exe.exists():
        found = shutil.which("artsnap")
        if found is None:
            pytest.skip("the artsnap console script is not installed (pip install -e .)")
        exe = Path(found)
    assert main(["--data-dir", str(data_dir), "ingest", str(source), "--collection", "art", "--quiet"]) == 0
    capsys.readouterr()
    queries = [
        str(source / "seascape/seascape_2.jpg"),
        str(source / "portrait/portrait_0.jpg"),
        str(source / "nope.jpg"),
    ]
    run = subprocess.run(
        [str(exe), "--data-dir", str(data_dir), "search", *queries, "--collection", "art", "--top-k", "3", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    lines = json_lines(run.stdout)  # stdout holds nothing but the JSON lines
    assert [line["query"] for line in lines] == queries
    assert [line["results"][0]["source_path"] for line in lines[:2]] == [
        "seascape/seascape_2.jpg",
        "portrait/portrait_0.jpg",
    ]
    assert all(len(line["results"]) == 3 for line in lines[:2])
    assert lines[2]["error"]["code"] == "unreadable" and "nope.jpg" in run.stderr


def test_indexes_from_another_model_are_refused_clearly_and_reindex_repairs_them(
    writable_demo: Path, demo_source, capsys
) -> None:
    side = writable_demo / "indexes" / "1" / "cnn.json"
    meta = json.loads(side.read_text())
    side.write_text(json.dumps({**meta, "model_version": "an-older-model"}))
    query = str(Path(demo_source.out_dir) / "stripes/stripes_0002.jpg")
    args = ["--data-dir", str(writable_demo), "search", query, "--collection", "demo", "--json"]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert "an-older-model" in captured.err and "artsnap reindex" in captured.err
    assert "Traceback" not in captured.err and captured.out == ""

    assert main(["--data-dir", str(writable_demo), "reindex", "--collection", "demo"]) == 0
    capsys.readouterr()
    assert main(args) == 0
    (line,) = json_lines(capsys.readouterr().out)
    assert line["results"][0]["source_path"] == "stripes/stripes_0002.jpg"
