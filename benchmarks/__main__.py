"""``python -m benchmarks [--quick] [--only SECTION ...] [--out BENCHMARKS.md]`` (``make bench``).

Benchmarks live outside the product: they use the installed packages' public modules, read
the data sets in ``../shared/datasets`` (or ``$ARTSNAP_SHARED_DIR/datasets``) and write
``BENCHMARKS.md`` plus its JSON twin. Scratch collections go under
``--data-dir``/bench-scratch (default ``$ARTSNAP_DATA_DIR`` or ``./var``, whose cached ONNX
model they share), never into a user's catalog.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from backend.config import Settings

from .runner import SECTION_NAMES, run_benchmarks


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Measure speed and quality; write BENCHMARKS.md."
    )
    p.add_argument("--quick", action="store_true", help="small subsets (minutes, for CI smoke runs)")
    p.add_argument("--out", default="BENCHMARKS.md")
    p.add_argument("--only", action="append", choices=SECTION_NAMES, help="run only these sections (repeatable)")
    p.add_argument(
        "--data-dir",
        default=None,
        help="data folder for the model cache and scratch (default ./var or $ARTSNAP_DATA_DIR)",
    )
    args = p.parse_args(argv)
    return run_benchmarks(Settings.from_env(args.data_dir), quick=args.quick, out=Path(args.out), only=args.only)


if __name__ == "__main__":
    sys.exit(main())
