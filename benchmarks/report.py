"""BENCHMARKS.md and its JSON twin: one header (machine, date, command), a target table, then
each section as it wrote itself, with its protocol."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .figures import TargetCheck, md_table
from .machine import MachineInfo


@dataclass
class SectionOutcome:
    name: str
    title: str
    status: str  # ok | skipped | failed | not run
    seconds: float = 0.0
    result: Any = None
    reason: str = ""


@dataclass
class RunInfo:
    date: str
    command: str
    quick: bool
    data_dir: str
    datasets_dir: str | None
    revision: str = ""
    seconds: float = 0.0
    sections: list[SectionOutcome] = field(default_factory=list)


def render(run: RunInfo, machine: MachineInfo) -> str:
    mode = (
        "**quick mode** — small subsets for a smoke run; quality figures are not the protocol's figures of record"
        if run.quick
        else "full protocol"
    )
    out = [
        "# artsnap benchmarks",
        "",
        f"- date: {run.date}",
        f"- command: `{run.command}`",
        f"- code: {run.revision or 'unknown revision'}",
        f"- mode: {mode}",
        f"- data sets: {run.datasets_dir or 'absent (sections that need them are skipped)'}; scratch and caches under "
        f"`{run.data_dir}`",
        f"- wall time: {run.seconds / 60:.1f} min",
        "",
        "Every figure is given with a reference measured in the same process (a ratio) plus the absolute numbers. "
        "Absolute timings depend on how busy the machine was (see the load average); ratios of interleaved runs much less.",
        "",
        "## Machine",
        "",
        machine.markdown(),
        "",
        "## Targets",
        "",
    ]
    checks: list[TargetCheck] = []
    for s in run.sections:
        if s.status == "ok" and hasattr(s.result, "targets"):
            checks += s.result.targets()
    if checks:
        out.append(
            md_table(
                ["target", "limit", "measured", "status", "by how much"],
                [[c.name, c.target, c.measured, c.status, c.note] for c in checks],
            )
        )
    else:
        out.append("No target was measured in this run.")
    out += ["", "## Summary", ""]
    rows = []
    for s in run.sections:
        line = s.result.headline() if s.status == "ok" and hasattr(s.result, "headline") else s.reason
        rows.append([f"[{s.title}](#{_anchor(s)})", s.status, f"{s.seconds:.0f} s", line])
    out.append(md_table(["section", "status", "time", "headline"], rows))
    for i, s in enumerate(run.sections, 1):
        out += ["", f"## {i}. {s.title}", "", f'<a id="{_anchor(s)}"></a>', ""]
        if s.status == "ok":
            out.append(s.result.markdown())
        elif s.status == "skipped":
            out.append(f"Skipped: {s.reason}")
        elif s.status == "failed":
            out.append(f"**Failed**: {s.reason}")
        else:
            out.append("Not run (not selected with `--only`).")
    out += kept_notes_sections()
    return "\n".join(out) + "\n"


#: Notes kept beside the benchmarks and copied into every report, because `make bench` does not
#: re-run them: mutation testing takes hours on 2 cores (`make mutation`), and the design
#: measurements are hand-run figures that the code's comments point to.
KEPT_NOTES = (
    ("Mutation testing (`make mutation`)", Path(__file__).resolve().parent / "mutation.md"),
    (
        "Design measurements (hand-run, not repeated by `make bench`)",
        Path(__file__).resolve().parent / "design_measurements.md",
    ),
)


def kept_notes_sections() -> list[str]:
    """One section per file of :data:`KEPT_NOTES` that exists."""
    out: list[str] = []
    for title, path in KEPT_NOTES:
        if path.is_file():
            out += ["", f"## {title}", "", path.read_text().strip()]
    return out


def git_revision(repo: Path) -> str:
    """'abc1234' plus a warning when the working tree differs from it (figures then describe the tree)."""
    import subprocess

    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return ""
    if not head:
        return ""
    return f"git {head}" + (f" with uncommitted changes in {len(dirty)} tracked file(s)" if dirty else "")


def _anchor(s: SectionOutcome) -> str:
    return f"section-{s.name}"


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def to_json(run: RunInfo, machine: MachineInfo) -> str:
    return json.dumps({"run": _jsonable(run), "machine": _jsonable(machine)}, indent=2, ensure_ascii=False)


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
