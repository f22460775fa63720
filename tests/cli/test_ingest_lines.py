"""``artsnap ingest``'s stderr lines (as the README shows them): errors always, duplicates unless --quiet."""

from __future__ import annotations

import json
from pathlib import Path

from backend.cli import main


def _source(root: Path, paint_jpeg) -> Path:
    files = {
        "cubist/cubist_0.jpg": paint_jpeg("cubist", 0),
        "cubist/cubist_1.jpg": paint_jpeg("cubist", 1),
        "stripes/copy.jpg": paint_jpeg("cubist", 0),
        "stripes/broken.jpg": b"\xff\xd8\xff\xe0 truncated",
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def test_error_and_duplicate_lines_and_what_quiet_leaves_out(tmp_path: Path, make_settings, paint_jpeg, capsys) -> None:
    source = _source(tmp_path / "src", paint_jpeg)
    data_dir = str(make_settings().data_dir)
    duplicate = "duplicate: stripes/copy.jpg is an exact duplicate of cubist/cubist_0.jpg (linked, not indexed)"

    assert main(["--data-dir", data_dir, "ingest", str(source), "--collection", "loud"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert duplicate in err
    [error] = [line for line in err if line.startswith("error: ")]
    assert error.startswith("error: stripes/broken.jpg: truncated: the file starts like a JPEG image")

    assert main(["--data-dir", data_dir, "ingest", str(source), "--collection", "quiet", "--quiet", "--json"]) == 0
    captured = capsys.readouterr()
    assert [line for line in captured.err.splitlines() if line.startswith("error: ")] == [error]
    assert "duplicate:" not in captured.err and "ingest:" not in captured.err  # no bar, no duplicate lines
    summary = json.loads(captured.out)
    assert (summary["added"], summary["exact_duplicates"], len(summary["failed"])) == (2, 1, 1)
