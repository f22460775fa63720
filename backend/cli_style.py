"""``artsnap train-style``: the art-style embedding from a curator's labelled folders.

One command trains (:mod:`edge_models.style_training`, torch; imported only when it runs) and,
with ``--register``, makes the model the server's active style model: collections then get
an ``artstyle`` index at their next ``artsnap reindex``, and searches use the model's weights.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def cmd_train_style(args: argparse.Namespace) -> int:
    from dataset_tools.readers import SourceError
    from edge_models.style_training import StyleTrainingOptions, train_style

    from .cli_models import _data_dir, _register

    options = StyleTrainingOptions(
        cache_dir=Path(args.cache_dir) if args.cache_dir else _data_dir(args) / "cache",
        dim=args.dim,
        hidden=args.hidden,
        epochs=args.epochs,
        seed=args.seed,
        progress=not args.quiet,
    )
    try:
        result = train_style(args.source, args.out, options)
    except (SourceError, ValueError) as exc:
        print(f"artsnap train-style: {exc}", file=sys.stderr)
        return 2
    figures = ", ".join(f"{k} {v:.3f}" for k, v in result.test_map.items())
    weights = ", ".join(f"{k} {v:.2f}" for k, v in result.fixed_weights.items())
    print(
        f"trained a {args.dim}-d art-style embedding for {len(result.labels)} labels in {result.seconds:.0f} s — "
        f"held-out mAP@10 ({result.n_test} paintings, leave-one-out): {figures}; weights chosen on validation: "
        f"{weights}",
        file=sys.stderr,
    )
    print(f"model folder: {result.model_dir}", file=sys.stderr)
    if args.register:
        code = _register(args.data_dir, str(result.model_dir), activate=True, prog="artsnap train-style")
        if code:
            return code
        print("next: artsnap reindex --collection NAME (adds the artstyle index)", file=sys.stderr)
    else:
        print(f"next: artsnap models register {result.model_dir}", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("train-style", help="train the art-style embedding from labelled folders (then reindex)")
    s.add_argument("source", help="folder-per-label or .zip (a first-level folder name is the style)")
    s.add_argument("--out", required=True, help="model folder to write")
    s.add_argument("--dim", type=int, default=64, help="size of the embedding (default 64)")
    s.add_argument("--hidden", type=int, default=512, help="hidden layer width (0: linear)")
    s.add_argument("--epochs", type=int, default=60)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--cache-dir", default=None, help="feature cache (default DATA_DIR/cache)")
    s.add_argument("--register", action="store_true", help="make it the active style model (then reindex)")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_train_style)
