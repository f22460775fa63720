"""Combine several ``python -m benchmarks --only …`` reports into one BENCHMARKS.md.

Speed figures want a quiet machine and quality figures want hours of CPU; running them as
separate invocations (same machine, same day) and combining keeps each honest. For every
section the latest run that measured it wins; each run's command, time and load average are
listed so a reader can see which figure came from which run.

    python -m benchmarks.combine BENCHMARKS.md bench-out/quality.md bench-out/speed.md ...
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .report import kept_notes_sections

_SECTION = re.compile(r"^## (\d+)\. (.+)$")


@dataclass
class Report:
    path: Path
    meta: list[str] = field(default_factory=list)  # the "- date: …" lines
    machine: str = ""
    targets: dict[str, str] = field(default_factory=dict)
    target_header: list[str] = field(default_factory=list)
    summary_rows: dict[str, str] = field(default_factory=dict)
    summary_header: list[str] = field(default_factory=list)
    sections: dict[int, tuple[str, str]] = field(default_factory=dict)  # n → (title, body)


def parse(path: Path) -> Report:
    rep = Report(path)
    text = path.read_text()
    parts = re.split(r"^(## .+)$", text, flags=re.M)
    head = parts[0]
    rep.meta = [ln for ln in head.splitlines() if ln.startswith("- ")]
    for heading, body in zip(parts[1::2], parts[2::2]):
        if heading == "## Machine":
            rep.machine = body.strip()
        elif heading == "## Targets":
            rows = [ln for ln in body.splitlines() if ln.startswith("|")]
            rep.target_header = rows[:2]
            for ln in rows[2:]:
                rep.targets[ln.split("|")[1].strip()] = ln
        elif heading == "## Summary":
            rows = [ln for ln in body.splitlines() if ln.startswith("|")]
            rep.summary_header = rows[:2]
            for ln in rows[2:]:
                if "| not run |" not in ln:
                    rep.summary_rows[ln.split("|")[1].strip()] = ln
        elif m := _SECTION.match(heading):
            if "Not run (not selected" not in body:
                rep.sections[int(m.group(1))] = (m.group(2), body.strip())
    return rep


def combine(out: Path, inputs: list[Path]) -> str:
    reports = [parse(p) for p in inputs]
    lines = ["# artsnap benchmarks", ""]
    lines += [
        "Combined from the runs below, one after another on the same machine; each section comes from the "
        "last run that measured it. Every figure is given with a reference measured in the same process (a "
        "ratio) plus the absolute numbers.",
        "",
    ]
    for r in reports:
        lines += [f"**Run `{r.path.name}`**", ""] + r.meta + [""]
    quiet = reports[-1]
    lines += ["## Machine", "", quiet.machine, "", "## Targets", ""]
    header = next((r.target_header for r in reversed(reports) if r.target_header), [])
    targets: dict[str, str] = {}
    for r in reports:
        targets.update(r.targets)
    lines += (header + list(targets.values())) if targets else ["No target was measured."]
    lines += ["", "## Summary", ""]
    sections: dict[int, tuple[str, str]] = {}
    summary: dict[str, str] = {}
    for r in reports:
        sections.update(r.sections)
        summary.update(r.summary_rows)
    s_header = next((r.summary_header for r in reports if r.summary_header), [])
    lines += s_header + [summary[k] for k in summary]
    for n in sorted(sections):
        title, body = sections[n]
        lines += ["", f"## {n}. {title}", "", body]
    lines += kept_notes_sections()
    text = "\n".join(lines) + "\n"
    out.write_text(text)
    return text


if __name__ == "__main__":
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    combine(Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]])
