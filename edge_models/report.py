"""The training report a curator reads: per-category precision/recall, confusion matrix PNG,
learning curve, and what the abstain threshold does — in Markdown, with a JSON twin for tools.

matplotlib runs headless (Agg); the confusion matrix is row-normalised (each row = what the
images of one true category were called), with raw counts printed in the cells, because with
imbalanced categories raw colours only show which category is biggest.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .learning_curve import LearningCurve
from .metrics import Evaluation
from .model_card import write_atomic

__all__ = ["plot_confusion_matrix", "plot_learning_curve", "write_report"]


def plot_confusion_matrix(evaluation: Evaluation, labels: list[str], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conf = np.asarray(evaluation.confusion, dtype=float)
    norm = conf / np.maximum(conf.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.6 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"test: accuracy {evaluation.accuracy:.3f}, macro-F1 {evaluation.macro_f1:.3f} (n={evaluation.n})")
    if len(labels) <= 30:
        for i in range(len(labels)):
            for j in range(len(labels)):
                if conf[i, j]:
                    ax.text(
                        j,
                        i,
                        int(conf[i, j]),
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="white" if norm[i, j] > 0.5 else "black",
                    )
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of true category")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_learning_curve(curve: LearningCurve, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = np.arange(len(curve.points))
    fig, ax = plt.subplots(figsize=(6, 4))
    for attr, name in (("accuracy", "accuracy"), ("macro_f1", "macro-F1")):
        ys = np.array([getattr(p, attr) for p in curve.points])
        err = np.array([getattr(p, attr + "_std") for p in curve.points])
        ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=name)
    ax.set_xticks(xs, [f"{p.label}\n(n={p.n_train})" for p in curve.points])
    ax.set_xlabel("training images per category")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(f"learning curve (test n={curve.n_test})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(
    out_dir: Path,
    summary: dict[str, Any],
    test: Evaluation,
    labels: list[str],
    curve: LearningCurve | None,
    *,
    multi_label: bool,
) -> Path:
    """Write report.json, report.md and the PNGs; returns the Markdown path."""
    out_dir = Path(out_dir)
    files: dict[str, str] = {}
    if not multi_label and test.n:
        plot_confusion_matrix(test, labels, out_dir / "confusion_matrix.png")
        files["confusion_matrix"] = "confusion_matrix.png"
    if curve is not None and curve.points:
        plot_learning_curve(curve, out_dir / "learning_curve.png")
        files["learning_curve"] = "learning_curve.png"
    data = {**summary, "test": test.to_dict(), "learning_curve": curve.to_dict() if curve else None, "files": files}
    write_atomic(out_dir / "report.json", json.dumps(data, indent=2, default=_json_default).encode())

    lines = [f"# Classifier training report — {summary.get('name', '')} {summary.get('version', '')}", ""]
    lines += [f"- mode: {'multi-label (sigmoid per label)' if multi_label else 'single-label (softmax)'}"]
    for key in (
        "source",
        "backbone",
        "fine_tuned",
        "training_data_hash",
        "temperature",
        "abstain_threshold",
        "seconds",
    ):
        if key in summary:
            lines.append(f"- {key.replace('_', ' ')}: {summary[key]}")
    counts = summary.get("counts", {})
    if counts:
        lines += ["", "## Data", "", "| category | train | val | test |", "|---|---:|---:|---:|"]
        for label in labels:
            lines.append(
                f"| {label} | "
                + " | ".join(str(counts.get(s, {}).get(label, 0)) for s in ("train", "val", "test"))
                + " |"
            )
    for note in summary.get("notes", []):
        lines.append(f"\n> {note}")
    lines += ["", "## Test split", ""]
    lines.append(
        f"accuracy **{test.accuracy:.3f}**, macro-F1 **{test.macro_f1:.3f}** on {test.n} images"
        + (f", micro-F1 {test.micro_f1:.3f}" if test.micro_f1 is not None else "")
    )
    if test.ece is not None:
        lines.append(f"\nexpected calibration error {test.ece:.3f} (after temperature scaling)")
    if test.coverage is not None:
        sel = (
            f", and {test.selective_accuracy:.3f} of those answers are right"
            if test.selective_accuracy is not None
            else ""
        )
        lines.append(
            f"\nwith the abstain threshold the model answers {test.coverage:.1%} of test images{sel}; "
            'the rest get "none of these categories".'
        )
    lines += ["", "| category | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
    for c in test.per_class:
        lines.append(f"| {c.label} | {c.precision:.3f} | {c.recall:.3f} | {c.f1:.3f} | {c.support} |")
    if "confusion_matrix" in files:
        lines += ["", "![confusion matrix](confusion_matrix.png)"]
    if curve is not None and curve.points:
        lines += [
            "",
            "## Learning curve",
            "",
            "| images per category | images used | accuracy | macro-F1 | runs |",
            "|---|---:|---:|---:|---:|",
        ]
        for p in curve.points:
            lines.append(
                f"| {p.label} | {p.n_train} | {p.accuracy:.3f} ± {p.accuracy_std:.3f} | "
                f"{p.macro_f1:.3f} ± {p.macro_f1_std:.3f} | {p.repeats} |"
            )
        lines += ["", "![learning curve](learning_curve.png)"]
    path = out_dir / "report.md"
    write_atomic(path, ("\n".join(lines) + "\n").encode())
    return path


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj)}")
