"""``make bench`` (``python -m benchmarks``): run the sections, write BENCHMARKS.md and the raw numbers as JSON beside it.

Sections run one after another in this process (the HTTP server and the memory probes are
subprocesses of their sections), progress goes to stderr, and the report is rewritten after
every section so an interrupted run still leaves what it measured. A section that cannot run
here (data set absent) is *skipped* with its reason; one that crashes is reported as *failed*
with the error, and the others still run. Exit status: 0 when nothing failed, 1 otherwise,
2 for an unknown section name.
"""

from __future__ import annotations

import shlex
import sys
import time
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

from backend.config import Settings

from . import (
    camera_snaps,
    cifar_codes,
    cifar_map,
    classifier,
    embed_throughput,
    int8_embed,
    load,
    memory,
    million_items,
    milvus_agreement,
    recognition,
    scale_out,
    search_latency,
    style_descriptors,
    unseen_classes,
    wikiart_style_map,
)
from .context import BenchContext
from .figures import SkipSection
from .machine import collect
from .report import RunInfo, SectionOutcome, git_revision, render, to_json, write_atomic

#: Report order (the issue's order). Each module has NAME, TITLE and run(ctx) -> result.
SECTIONS: tuple[ModuleType, ...] = (
    embed_throughput,
    int8_embed,
    search_latency,
    load,
    memory,
    cifar_map,
    cifar_codes,
    unseen_classes,
    million_items,
    wikiart_style_map,
    style_descriptors,
    camera_snaps,
    recognition,
    classifier,
    milvus_agreement,
    scale_out,
)
SECTION_NAMES = tuple(m.NAME for m in SECTIONS)


def json_path_for(out: Path) -> Path:
    """The raw results live beside the markdown: BENCHMARKS.md → BENCHMARKS.json."""
    return out.with_suffix(".json") if out.suffix.lower() == ".md" else out.with_name(out.name + ".json")


def run_benchmarks(
    settings: Settings,
    quick: bool = False,
    out: Path = Path("BENCHMARKS.md"),
    only: Sequence[str] | None = None,
    *,
    command: str | None = None,
    datasets_dir: Path | None | str = "auto",
) -> int:
    wanted = list(dict.fromkeys(only)) if only else list(SECTION_NAMES)
    unknown = [n for n in wanted if n not in SECTION_NAMES]
    if unknown:
        print(
            f"benchmarks: unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTION_NAMES)}", file=sys.stderr
        )
        return 2
    out = Path(out)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    ctx = BenchContext.create(settings, quick, datasets_dir=datasets_dir)
    ctx.out = out
    machine = collect()
    run = RunInfo(
        date=datetime.now(UTC).astimezone().isoformat(timespec="seconds"),
        command=command or "python -m benchmarks " + shlex.join(sys.argv[1:]),
        quick=quick,
        data_dir=str(settings.data_dir),
        datasets_dir=str(ctx.datasets_dir) if ctx.datasets_dir else None,
        revision=git_revision(Path(__file__).resolve().parents[1]),
        sections=[SectionOutcome(m.NAME, m.TITLE, "not run") for m in SECTIONS],
    )
    t_run = time.perf_counter()

    def write() -> None:
        run.seconds = time.perf_counter() - t_run
        write_atomic(out, render(run, machine))
        write_atomic(json_path_for(out), to_json(run, machine))

    failed = False
    for module, outcome in zip(SECTIONS, run.sections):
        if module.NAME not in wanted:
            continue
        ctx.log(f"── {module.NAME}: {module.TITLE}{' (quick)' if quick else ''}")
        t0 = time.perf_counter()
        try:
            outcome.result = module.run(ctx)
            outcome.status = "ok"
        except SkipSection as exc:
            outcome.status, outcome.reason = "skipped", str(exc)
        except Exception as exc:
            failed = True
            outcome.status = "failed"
            outcome.reason = f"{type(exc).__name__}: {exc}"
            traceback.print_exc(file=sys.stderr)
        outcome.seconds = time.perf_counter() - t0
        ctx.log(
            f"   {module.NAME}: {outcome.status} in {outcome.seconds:.0f} s"
            + (f" — {outcome.result.headline()}" if outcome.status == "ok" else f" — {outcome.reason}")
        )
        write()
    machine.finish()
    write()
    ctx.log(f"wrote {out} and {json_path_for(out)}")
    return 1 if failed else 0
