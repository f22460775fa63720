"""Smoke test of ``make bench`` (``python -m benchmarks``): a cheap section on tiny generated data, end to end.

The real figures come from ``make bench`` on a quiet machine; here we only prove that the
runner writes a report with the machine, the date, the protocol and ratios, dumps JSON beside
it, skips sections whose data is absent with a reason, and that the metrics compute what
their docstrings say.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from benchmarks.retrieval import average_precision_at_k, mean_average_precision, target_ranks
from benchmarks.runner import SECTION_NAMES, json_path_for, run_benchmarks


def _tiny_wikiart(folder: Path) -> Path:
    """A 'wikiart-styles-3500.zip' of 3 generated families × 5 images, plus one _dup pair."""
    from dataset_tools.demo import paint

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "wikiart-styles-3500.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for family in ("mondrian", "seascape", "ink_wash"):
            for i in range(5):
                buf = io.BytesIO()
                paint(family, i, size=96).save(buf, "JPEG", quality=90)
                zf.writestr(f"{family}/{family}_{i:04d}.jpg", buf.getvalue())
                if i == 0:
                    zf.writestr(f"{family}/{family}_dup000.jpg", buf.getvalue())
    return folder


def test_bench_writes_report_with_machine_date_and_ratios(tmp_path: Path, make_settings) -> None:
    datasets = _tiny_wikiart(tmp_path / "datasets")
    out = tmp_path / "out" / "BENCHMARKS.md"
    code = run_benchmarks(
        make_settings(),
        quick=True,
        out=out,
        only=["wikiart_style_map", "cifar_map"],
        command="python -m benchmarks --quick (test)",
        datasets_dir=datasets,
    )
    assert code == 0
    md = out.read_text()
    assert "## Machine" in md and "| CPU |" in md and "| Python |" in md
    assert "- date: " in md and "python -m benchmarks --quick (test)" in md
    assert "Protocol:" in md and "mAP@10" in md
    assert "×" in md  # ratios against the same-run references
    assert "_dup" in md  # says what it did with the duplicates
    assert "Skipped: cifar10-jpeg.zip is not in" in md

    data = json.loads(json_path_for(out).read_text())
    sections = {s["name"]: s for s in data["run"]["sections"]}
    assert set(sections) == set(SECTION_NAMES)
    wik = sections["wikiart_style_map"]
    assert wik["status"] == "ok"
    assert wik["result"]["n_images"] == 15  # the _dup files are left out
    assert 0.0 <= wik["result"]["cnn"]["map"] <= 1.0
    # Generated families are visually distinct: the CNN must beat chance clearly.
    assert wik["result"]["cnn"]["map"] > wik["result"]["random"]["map"]
    assert sections["cifar_map"]["status"] == "skipped"
    assert sections["search_latency"]["status"] == "not run"


def test_unknown_section_is_refused(tmp_path: Path) -> None:
    from backend.config import Settings

    assert run_benchmarks(Settings(data_dir=tmp_path), quick=True, out=tmp_path / "B.md", only=["nope"]) == 2
    assert not (tmp_path / "B.md").exists()


def test_average_precision_convention() -> None:
    # relevant at ranks 1 and 3 of the top 4: (1/1 + 2/3) / 2
    ap = average_precision_at_k(np.array([[True, False, True, False], [False, False, False, False]]))
    assert ap[0] == pytest.approx((1 + 2 / 3) / 2)
    assert ap[1] == 0.0


def test_map_leave_one_out_and_target_ranks() -> None:
    # two tight clusters: every neighbour of a point is its own class first
    v = np.array([[1, 0.05], [1, -0.05], [1, 0.0], [0.05, 1], [-0.05, 1], [0, 1]], np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    labels = np.array([0, 0, 0, 1, 1, 1])
    res = mean_average_precision(v, labels, v, labels, 2, exclude_self=True, class_names=["a", "b"])
    assert res.map == pytest.approx(1.0)
    assert res.n_database == 5 and set(res.per_class_map) == {"a", "b"}
    ranks = target_ranks(v[[0, 3]], v, np.array([0, 3]))
    assert ranks.tolist() == [1, 1]


def test_style_descriptor_section_measures_on_the_held_out_split(tmp_path: Path, make_settings) -> None:
    datasets = _tiny_wikiart(tmp_path / "datasets")
    out = tmp_path / "out" / "BENCHMARKS.md"
    code = run_benchmarks(make_settings(), quick=True, out=out, only=["style_descriptors"], datasets_dir=datasets)
    assert code == 0
    data = json.loads(json_path_for(out).read_text())
    section = {s["name"]: s for s in data["run"]["sections"]}["style_descriptors"]
    assert section["status"] == "ok", section
    result = section["result"]
    assert set(result["test_map"]) == {"cnn", "style", "artstyle", "fixed weights"}
    assert 0 < result["n_test"] < 15  # only the held-out paintings are queries
    assert all(0.0 <= v <= 1.0 for v in result["test_map"].values())
    # Learnt per-query weights and the best fixed ones, both measured on the test split's queries.
    types = result["types"]
    assert set(types["weights_test_map_at_10"]) == {"learnt per-query", "best fixed", "true kind"}
    assert set(types["type_counts"]["test"]) >= {"scan", "camera_photo", "drawing"}
    # A learning curve per descriptor: held-out mAP@10 for each training budget, ending with all of it.
    curve = result["curve"]
    assert [p["per_label"] for p in curve] == [5, 10, 20, None]
    assert all(set(p["test_map"]) == {"cnn", "style", "artstyle", "fixed weights"} for p in curve)
    assert curve[-1]["test_map"] == pytest.approx(result["test_map"])  # "all" is the model the section measured
    assert [p["n_train"] for p in curve] == sorted(p["n_train"] for p in curve)
    # Ingest with every descriptor against today's, the same images in both, every round timed.
    ingest = result["ingest"]
    assert set(ingest["descriptors"]) == {"cnn", "color", "style", "artstyle"}
    assert ingest["n_images"] == result["n_test"] and len(ingest["all_ms"]) == len(ingest["today_ms"]) >= 1
    assert all(t > 0 for t in ingest["all_ms"] + ingest["today_ms"])
    # Related works per style through the server's path, drawn beside the report and linked from it.
    related = result["related"]
    assert {r["style"] for r in related} <= {"mondrian", "seascape", "ink_wash"} and related
    assert all(0 < len(r["results"]) <= 5 and r["query"].startswith(r["style"] + "/") for r in related)
    sheet = out.with_name("BENCHMARKS-style-related.png")
    from PIL import Image

    with Image.open(sheet) as im:
        assert im.format == "PNG" and im.height > 100 * len(related)
    md = out.read_text()
    assert "Style descriptors" in md and "Fixed weights chosen on the validation split" in md
    assert "per-query weights vs best fixed weights" in md and "Image-type model: test accuracy" in md
    assert "ingest time per image with all descriptors, vs today's" in md and "Learning curve" in md
    assert "](BENCHMARKS-style-related.png)" in md
