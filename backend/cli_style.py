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
        types=not args.no_types,
        variants_per_label=args.variants_per_label,
        photos=Path(args.photos) if args.photos else None,
        photos_per_label=args.photos_per_label,
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
    types = result.types
    if types is not None:
        m = types.test_map
        per_kind = "; ".join(
            f"{kind}: " + ", ".join(f"{k} {v:.2f}" for k, v in w.items()) for kind, w in types.type_weights.items()
        )
        print(
            f"image-type model ({', '.join(types.model.types)}): test accuracy {types.test_accuracy:.3f}; "
            f"held-out mAP@10 over every kind of query: learnt per-query weights {m['learnt per-query']:.3f}, "
            f"best fixed weights {m['best fixed']:.3f}; weights chosen on validation per kind: {per_kind}",
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
    s.add_argument("--no-types", action="store_true", help="skip the image-type model (the per-kind weights)")
    s.add_argument(
        "--variants-per-label",
        type=int,
        default=40,
        help="paintings per label and split rendered as camera photos and drawings for the type model (default 40)",
    )
    s.add_argument(
        "--photos",
        default=None,
        help="folder or .zip of photographs that are not art (sub-folder: what they show): the 'photograph' kind",
    )
    s.add_argument("--photos-per-label", type=int, default=30)
    s.add_argument("--register", action="store_true", help="make it the active style model (then reindex)")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_train_style)
