"""``artsnap train-classifier``, ``export-classifier``, ``train-codes`` and ``models …``: the model commands.

Training and export live in :mod:`edge_models`; these commands parse arguments, print what a
curator needs (accuracy, the learning curve, parity, where the files are) and register an
exported model so the API hands it to phones and ingest labels with it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def cmd_train(args: argparse.Namespace) -> int:
    from dataset_tools.readers import SourceError
    from edge_models.train import TrainingOptions, train_classifier

    options = TrainingOptions(
        cache_dir=Path(args.cache_dir) if args.cache_dir else _data_dir(args) / "cache",
        learning_curve=args.learning_curve,
        fine_tune=args.fine_tune,
        fine_tune_blocks=args.fine_tune_blocks,
        fine_tune_epochs=args.fine_tune_epochs,
        epochs=args.epochs,
        seed=args.seed,
        progress=not args.quiet,
        backbone=_FEATURES[args.features],
        label_precision=args.label_precision,
    )
    if not 0.0 < args.label_precision <= 1.0:
        print("artsnap train-classifier: --label-precision must be in (0, 1]", file=sys.stderr)
        return 2
    try:
        result = train_classifier(args.source, args.out, options)
    except (SourceError, ValueError) as exc:
        print(f"artsnap train-classifier: {exc}", file=sys.stderr)
        return 2
    t = result.test
    print(
        f"trained {len(result.labels)} categories ({'multi-label' if result.multi_label else 'single-label'}) "
        f"in {result.seconds:.0f} s — test accuracy {t.accuracy:.3f}, macro-F1 {t.macro_f1:.3f} on {t.n} images",
        file=sys.stderr,
    )
    if result.learning_curve is not None:
        print("learning curve (test accuracy by images per category):", file=sys.stderr)
        for p in result.learning_curve.points:
            print(
                f"  {p.label:>5}: {p.accuracy:.3f} ± {p.accuracy_std:.3f} (macro-F1 {p.macro_f1:.3f})", file=sys.stderr
            )
    tl = result.trusted_labels
    if tl.get("coverage") is not None:
        precision = "n/a (none passed)" if tl.get("precision") is None else f"{tl['precision']:.3f}"
        print(
            f"machine labels kept at {tl['label_precision_target']:.0%} validation precision (confidence >= "
            f"{tl['threshold']:.3f}): test precision {precision}, coverage {tl['coverage']:.1%}",
            file=sys.stderr,
        )
    print(f"model folder: {result.model_dir} (report: {result.report_path})", file=sys.stderr)
    print(f"next: artsnap export-classifier {result.model_dir} --register", file=sys.stderr)
    return 0


def cmd_train_codes(args: argparse.Namespace) -> int:
    from dataset_tools.readers import SourceError
    from edge_models.train_codes import CodeTrainingOptions, train_codes

    options = CodeTrainingOptions(
        cache_dir=Path(args.cache_dir) if args.cache_dir else _data_dir(args) / "cache",
        bits=args.bits,
        method="float" if args.float else "csq",
        aug_views=args.aug_views,
        hidden=args.hidden,
        epochs=args.epochs,
        similarity_weight=args.similarity_weight,
        seed=args.seed,
        device=args.device,
        progress=not args.quiet,
    )
    if args.bits < 8 or (not args.float and args.bits % 8):
        print("artsnap train-codes: --bits must be a multiple of 8 (8, 16, 32, 48, 64 …)", file=sys.stderr)
        return 2
    try:
        result = train_codes(args.source, args.out, options)
    except (SourceError, ValueError) as exc:
        print(f"artsnap train-codes: {exc}", file=sys.stderr)
        return 2
    kind = f"{result.bits}-bit codes" if result.method == "csq" else f"{result.bits}-d float embedding"
    print(
        f"trained {kind} for {len(result.labels)} labels in {result.seconds:.0f} s on {result.device} — test mAP "
        f"{result.test_map:.3f} (pretrained embedding {result.pretrained_test_map:.3f}, {result.n_test} queries)",
        file=sys.stderr,
    )
    print(f"model folder: {result.model_dir} (report: {result.model_dir / 'report.md'})", file=sys.stderr)
    if args.register:
        if result.method != "csq":
            print(
                "a float embedding is for comparison only; binary codes (without --float) are indexed", file=sys.stderr
            )
            return 2
        code = _register(args.data_dir, str(result.model_dir), activate=True, prog="artsnap train-codes")
        if code:
            return code
        print("next: artsnap reindex --collection NAME --only code (for collections indexed before)", file=sys.stderr)
    else:
        print(f"next: artsnap models register {result.model_dir}", file=sys.stderr)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from edge_models.export import export_models

    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    quantize = tuple(q.strip() for q in args.quantize.split(",") if q.strip())
    try:
        result = export_models(
            args.model_dir,
            formats=formats,
            quantize=quantize,
            progress=not args.quiet,
            license=args.license,
            author=args.author,
        )
    except (FileNotFoundError, ValueError) as exc:
        print(f"artsnap export-classifier: {exc}", file=sys.stderr)
        return 2
    for key, path in sorted(result.files.items()):
        print(f"  {key:<28} {result.sizes.get(key, 0) / 1e6:6.1f} MB  {path}", file=sys.stderr)
    if result.parity is not None:
        print(
            f"parity with torch: {'ok' if result.parity.ok else 'FAILED'} — details in model_card.json", file=sys.stderr
        )
        for p in result.parity.formats.values():
            if not p.passed:
                kind = "below target" if p in result.parity.below_target else "FAILED"
                print(
                    f"  {p.fmt} {kind}: top-1 agreement {p.top1_agreement:.1%}, max |dp| "
                    f"{p.max_abs_diff_probabilities:.2g} on {p.n} test images; target {p.criterion}",
                    file=sys.stderr,
                )
        for c in result.parity.coreml.values():
            if not c.passed:
                print(f"  {c.fmt}: {'; '.join(c.problems)}", file=sys.stderr)
        if result.below_target:
            print(
                f"WARNING: {', '.join(result.below_target)} below the agreement target"
                + (" — failing (--strict)" if args.strict else "; ship knowingly, or export with --strict to fail"),
                file=sys.stderr,
            )
    if not result.ok or (args.strict and result.below_target):
        return 1
    if args.register:
        return _register(args.data_dir, args.model_dir, activate=True, prog="artsnap export-classifier")
    return 0


def cmd_models_register(args: argparse.Namespace) -> int:
    return _register(args.data_dir, args.model_dir, activate=not args.no_activate, prog="artsnap models register")


def _register(data_dir: str | None, model_dir: str, *, activate: bool, prog: str) -> int:
    """Copy an exported model into the server's store and register it (see backend.engine.model_registry)."""
    from .config import Settings
    from .engine.catalog.store import Catalog
    from .engine.model_registry import register_model_dir, store_dir

    settings = Settings.from_env(data_dir)
    try:
        m = register_model_dir(
            Catalog(settings.database_url), model_dir, store=store_dir(settings.data_dir), activate=activate
        )
    except (FileNotFoundError, KeyError, ValueError, OSError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    what = "classifier" if "classification" in m.task else f"{m.task} model"
    state = f"the active {what}" if m.active else "registered (not active)"
    print(f"{m.name} {m.version}: {state}; files: {', '.join(sorted(m.files))} (stored in {m.path})", file=sys.stderr)
    card_version = m.card.get("registry", {}).get("card_version", m.version)
    if card_version != m.version:
        print(
            f"note: version {card_version} was already registered with other files (a re-export is a new "
            f"version), so phones get these as {m.version}",
            file=sys.stderr,
        )
    return 0


def cmd_models_list(args: argparse.Namespace) -> int:
    from .config import Settings
    from .engine.catalog.store import Catalog
    from .engine.model_registry import list_models

    settings = Settings.from_env(args.data_dir)
    models = list_models(Catalog(settings.database_url))
    if args.json:
        print(
            json.dumps(
                [
                    {"name": m.name, "version": m.version, "task": m.task, "active": m.active, "path": str(m.path)}
                    for m in models
                ]
            )
        )
        return 0
    if not models:
        print(
            "no models registered: artsnap train-classifier SOURCE --out DIR, then export-classifier DIR --register",
            file=sys.stderr,
        )
    for m in models:
        print(f"{'*' if m.active else ' '} {m.name} {m.version} ({m.task}) {m.path}")
    return 0


#: ``--features`` → registered backbone (edge_models.classifier_backbone).
_FEATURES = {"pooled": "efficientnet-lite0", "multilayer": "efficientnet-lite0-stats"}


def _data_dir(args: argparse.Namespace) -> Path:
    from .config import Settings

    return Settings.from_env(args.data_dir).data_dir


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("train-classifier", help="train the category classifier from labelled folders or a CSV manifest")
    s.add_argument("source", help="folder-per-label, .zip, or CSV manifest (path,label; 'a;b' = several labels)")
    s.add_argument("--out", required=True, help="model folder to write")
    s.add_argument("--learning-curve", action="store_true", help="accuracy at 10, 25, 50, 100 and all images per class")
    s.add_argument(
        "--fine-tune", action="store_true", help="also fine-tune the last blocks (GPU when present; slow on CPU)"
    )
    s.add_argument("--fine-tune-blocks", type=int, default=2, help="with --fine-tune: last blocks trained (default 2)")
    s.add_argument("--fine-tune-epochs", type=int, default=5, help="with --fine-tune: epoch cap (default 5)")
    s.add_argument(
        "--features",
        choices=sorted(_FEATURES),
        default="multilayer",
        help="head input: the pooled last layer, or it with per-block channel means and deviations (default)",
    )
    s.add_argument(
        "--label-precision",
        type=float,
        default=0.9,
        help="validation precision machine labels must reach before ingest stores them (default 0.9)",
    )
    s.add_argument("--epochs", type=int, default=200)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--cache-dir", default=None, help="feature cache (default DATA_DIR/cache)")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser(
        "train-codes", help="train compact retrieval codes (deep supervised hashing) from labelled folders"
    )
    s.add_argument("source", help="folder-per-label, .zip, or CSV manifest (path,label; 'a;b' = several labels)")
    s.add_argument("--out", required=True, help="model folder to write")
    s.add_argument("--bits", type=int, default=64, help="code length in bits (a multiple of 8; default 64)")
    s.add_argument(
        "--float", action="store_true", help="train a float embedding of --bits numbers instead (to compare)"
    )
    s.add_argument("--aug-views", type=int, default=2, help="phone-like views per training image (default 2)")
    s.add_argument("--hidden", type=int, default=1024, help="hidden layer width of the head (0: linear)")
    s.add_argument("--epochs", type=int, default=40)
    s.add_argument(
        "--similarity-weight",
        type=float,
        default=0.0,
        help="keep the pretrained neighbourhoods in the code (helps categories it was not trained on)",
    )
    s.add_argument("--device", choices=("cpu", "cuda"), default=None, help="training device (default: CUDA if present)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--cache-dir", default=None, help="feature cache (default DATA_DIR/cache)")
    s.add_argument("--register", action="store_true", help="make it the active code model (then reindex --only code)")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_train_codes)

    s = sub.add_parser(
        "export-classifier", help="write .onnx, .tflite (fp32/fp16/int8/int8_full) and Core ML files + model card"
    )
    s.add_argument("model_dir")
    s.add_argument("--formats", default="onnx,tflite,coreml")
    s.add_argument(
        "--quantize",
        default="fp32,fp16,int8,int8_full",
        help="precisions: fp32, fp16, int8 (mixed, float I/O), int8_full (full integer, uint8 I/O; .tflite only)",
    )
    s.add_argument(
        "--strict",
        action="store_true",
        help="fail (exit 1, no --register) when a quantised file agrees with torch less than its target",
    )
    s.add_argument("--license", default="Apache-2.0", help="licence written into the card and every file")
    s.add_argument("--author", default="artsnap", help="author written into the card and every file")
    s.add_argument(
        "--register", action="store_true", help="make it the active model served to phones and used by ingest"
    )
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("models", help="the model registry")
    msub = s.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    r = msub.add_parser("register", help="register an exported model folder (and make it active)")
    r.add_argument("model_dir")
    r.add_argument("--no-activate", action="store_true")
    r.set_defaults(func=cmd_models_register)
    r = msub.add_parser("list", help="registered models; * marks the active one")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_models_list)
