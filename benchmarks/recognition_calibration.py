"""Calibrate the open-set decision of recognition, then measure it on snaps it never saw.

Why a script of its own: the rule in ``backend/engine/recognition/decision.py`` ships as a
few fitted constants, and whoever changes the features, the matcher or the candidate routes
must be able to refit them and see the figures again. It needs the WikiArt zip from
``../shared`` (research use only: only the constants ship, never the data).

Protocol (every draw from fixed seeds):

1. The 3 500 WikiArt paintings (``_dup`` files left out) are split: ``--catalogue`` of them
   (3 000) are ingested as the collection, through ``IngestService`` as a user would; the
   rest are *unknown* paintings, never in the collection: the first half may be calibrated on,
   the second half is only ever measured (here with ``--evaluate``, and by ``make bench``).
2. Calibration snaps (``simulate_snap``, 1024 x 768, default difficulty): ``--calib-known``
   snaps of catalogue paintings and ``--calib-unknown`` of unknown ones. Each is decoded as
   the server decodes a query, and every candidate either route puts forward (the visual
   words' top 10, the global embedding's top 10 for the whole photo and its located crop)
   is verified, without stopping early, against the photo's plain keypoints and against
   them with its stretched view's added (the server's last look). Each verification gives
   the evidence features.
3. A logistic model is fitted on them (true candidates against every wrong one), and the
   threshold chosen on the calibration snaps: the smallest score at which at most
   ``--max-unknown-matched`` of unknown snaps and ``--max-known-wrong`` of known snaps
   would be matched to a wrong painting.
4. Evaluation (``--evaluate``), after the constants are in ``decision.py``: *other* snaps,
   of other paintings, through ``SearchService.search_image`` exactly as the server runs
   it: known paintings (plain and ``hard`` difficulty) and unknown paintings. Reported:
   precision and recall of ``match``, the share of unknown snaps answered ``null``, recall@1
   and @10 of ``results``, and per-stage median timings.

Usage::

    python -m benchmarks.recognition_calibration --work /tmp/calib            # fit, print constants
    python -m benchmarks.recognition_calibration --work /tmp/calib --evaluate # measure the shipped rule
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from backend.config import Settings
from backend.engine.artwork import crop_artwork
from backend.engine.recognition import Recogniser, extract_query_features, extract_tilted_features, interleave
from backend.engine.recognition.decision import MIN_INLIERS
from backend.engine.recognition.verification import SAME_PLACE_PX, QueryMatcher, verify
from backend.engine.search_options import SearchOptions
from backend.engine.services import Engine
from dataset_tools.camera_snap import simulate_snap
from dataset_tools.images import decode_image

from .datasets import WIKIART_ZIP, shared_datasets_dir

COLLECTION = "calibration"


@dataclass(frozen=True)
class Split:
    catalogue: list[str]
    unknown: list[str]


def calibration_unknown(parts: Split) -> list[str]:
    """The unknown paintings the decision may be fitted on: the first half. The other half
    (:func:`measured_unknown`) is only ever measured, by ``--evaluate`` and by ``make bench``."""
    return parts.unknown[: len(parts.unknown) // 2]


def measured_unknown(parts: Split) -> list[str]:
    return parts.unknown[len(parts.unknown) // 2 :]


def split(names: list[str], catalogue: int, seed: int = 2026) -> Split:
    order = np.random.default_rng(seed).permutation(len(names))
    return Split([names[i] for i in order[:catalogue]], [names[i] for i in order[catalogue:]])


def wikiart_names(zf: zipfile.ZipFile) -> list[str]:
    return sorted(n for n in zf.namelist() if n.endswith(".jpg") and "_dup" not in n)


def build_collection(
    engine: Engine, zf: zipfile.ZipFile, names: list[str], folder: Path, *, collection: str = COLLECTION
) -> None:
    """Write the catalogue paintings to a folder and ingest it (skipped when done already)."""
    for name in names:
        path = folder / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(zf.read(name))
    summary = engine.ingest.ingest(folder, collection)
    print(f"collection: {summary.added} added, {summary.already_done} already there", file=sys.stderr)


def painting(zf: zipfile.ZipFile, name: str) -> Image.Image:
    return Image.open(io.BytesIO(zf.read(name))).convert("RGB")


def snaps(names: list[str], count: int, seed: int) -> list[tuple[str, int]]:
    """(painting, snap seed) pairs: ``count`` paintings drawn without replacement."""
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(names), size=min(count, len(names)), replace=False)
    return [(names[int(i)], int(seed * 100_000 + k)) for k, i in enumerate(chosen)]


# --------------------------------------------------------------------------- calibration


def collect(
    engine: Engine,
    zf: zipfile.ZipFile,
    pairs: list[tuple[str, int]],
    ids_by_name: dict[str, int],
    difficulty: str = "default",
) -> list[dict]:
    """Evidence features of every candidate of every snap (verified without stopping early)."""
    cid = engine.catalog.collection_id(COLLECTION)
    stored = engine.feature_store.get(cid)
    cnn = engine.descriptors["cnn"]
    index = engine.index_store.get(cid, "cnn")
    rows = []
    for k, (name, seed) in enumerate(pairs):
        snap = simulate_snap(painting(zf, name), np.random.default_rng(seed), difficulty=difficulty)
        image = decode_image(snap.jpeg, min_side=engine.settings.query_min_side).image
        query = extract_query_features(image)
        rec = Recogniser(stored, query)
        by_words = rec.shortlist()
        crop, region = crop_artwork(image)
        views = [image, crop] if region.found else [image]
        _, by_embedding = index.search(cnn.describe(views), 10)
        # both views the server may verify with: the plain one, and with the stretched view
        # added (every photo the plain view recognises nothing in gets it)
        matchers = {
            "plain": QueryMatcher(query),
            "widened": QueryMatcher(query.extended(extract_tilted_features(image)), same_place_px=SAME_PLACE_PX),
        }
        truth = ids_by_name.get(name)
        for item_id in interleave(by_words, *by_embedding.tolist()):
            features = stored.get(item_id)
            if features is None:
                continue
            for view, matcher in matchers.items():
                v = verify(matcher, item_id, features)
                rows.append(
                    {
                        "set": difficulty,
                        "snap": k,
                        "view": view,
                        "item": item_id,
                        "known": truth is not None,
                        "true": item_id == truth,
                        "inliers": v.inliers,
                        "matches": v.matches,
                        "coverage": v.coverage,
                        "plausible": v.plausible,
                    }
                )
        if k % 50 == 0:
            print(f"  collected {k + 1}/{len(pairs)}", file=sys.stderr)
    return rows


def design(rows: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, labels, gate) for the logistic model: ln inliers, inlier ratio, coverage."""
    inl = np.array([r["inliers"] for r in rows], float)
    ratio = np.array([r["inliers"] / r["matches"] if r["matches"] else 0.0 for r in rows])
    cov = np.array([r["coverage"] for r in rows])
    gate = np.array([r["plausible"] and r["inliers"] >= MIN_INLIERS for r in rows])
    x = np.stack([np.log(np.maximum(inl, 1)), ratio, cov], 1)
    y = np.array([r["true"] for r in rows], float)
    return x, y, gate


def fit_logistic(x: np.ndarray, y: np.ndarray, *, l2: float = 1e-3, iters: int = 50) -> np.ndarray:
    """Weights (bias first) by Newton's method (IRLS) with a little L2 for separable data."""
    a = np.c_[np.ones(len(x)), x]
    w = np.zeros(a.shape[1])
    for _ in range(iters):
        p = 1 / (1 + np.exp(-np.clip(a @ w, -30, 30)))
        grad = a.T @ (p - y) + l2 * np.r_[0, w[1:]]
        hess = (a * (p * (1 - p))[:, None]).T @ a + l2 * np.diag(np.r_[0, np.ones(len(w) - 1)])
        step = np.linalg.solve(hess + 1e-9 * np.eye(len(w)), grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def scores(w: np.ndarray, x: np.ndarray, gate: np.ndarray) -> np.ndarray:
    z = np.c_[np.ones(len(x)), x] @ w
    return np.where(gate, 1 / (1 + np.exp(-np.clip(z, -30, 30))), 0.0)


def per_snap_outcomes(rows: list[dict], s: np.ndarray, threshold: float) -> dict[str, float]:
    """At this threshold: what each snap would be answered (best-scoring candidate)."""
    by_snap: dict[tuple[str, int], list[tuple[float, bool]]] = {}
    for r, sc in zip(rows, s):
        by_snap.setdefault((r["set"], r["snap"]), []).append((float(sc), bool(r["true"])))
    known = [max(v) for (kind, _), v in by_snap.items() if kind != "unknown"]
    unknown = [max(v) for (kind, _), v in by_snap.items() if kind == "unknown"]
    return {
        "known_snaps": len(known),
        "known_right": float(np.mean([sc >= threshold and t for sc, t in known])) if known else 0.0,
        "known_wrong": float(np.mean([sc >= threshold and not t for sc, t in known])) if known else 0.0,
        "unknown_snaps": len(unknown),
        "unknown_matched": float(np.mean([sc >= threshold for sc, _ in unknown])) if unknown else 0.0,
    }


def calibrate(args: argparse.Namespace, engine: Engine, zf: zipfile.ZipFile, parts: Split, ids: dict[str, int]) -> None:
    sets = {
        "known": (parts.catalogue, args.calib_known, 11, "default"),
        "unknown": (calibration_unknown(parts), args.calib_unknown, 12, "default"),
        "hard": (parts.catalogue, args.calib_hard, 13, "hard"),
    }
    rows: list[dict] = []
    for key, (names, count, seed, difficulty) in sets.items():
        cache = args.work / f"calibration-rows-{key}.json"
        if not cache.exists():
            part = collect(engine, zf, snaps(names, count, seed=seed), ids, difficulty)
            cache.write_text(json.dumps([dict(r, set=key) for r in part]))
        rows += json.loads(cache.read_text())
    x, y, gate = design(rows)
    w = fit_logistic(x[gate], y[gate])
    s = scores(w, x, gate)
    true_inl = [r["inliers"] for r in rows if r["true"]]
    wrong_inl = [r["inliers"] for r in rows if not r["true"]]
    print(f"candidates verified: {len(rows)} ({int(y.sum())} true); gate passed: {int(gate.sum())}")
    print(f"inliers, true candidates: median {np.median(true_inl):.0f}, 5th pct {np.percentile(true_inl, 5):.0f}")
    print(
        f"inliers, wrong candidates: median {np.median(wrong_inl):.0f}, 99th pct {np.percentile(wrong_inl, 99):.0f}, max {max(wrong_inl)}"
    )
    print("fitted: b0, b_log_inliers, b_ratio, b_coverage =", ", ".join(f"{v:.3f}" for v in w))
    chosen = None
    print("threshold | known right | known wrong | unknown matched")
    for t in (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99):
        o = per_snap_outcomes(rows, s, t)
        print(f"{t:9.2f} | {o['known_right']:.3f} | {o['known_wrong']:.3f} | {o['unknown_matched']:.3f}")
        if (
            chosen is None
            and o["unknown_matched"] <= args.max_unknown_matched
            and o["known_wrong"] <= args.max_known_wrong
        ):
            chosen = t
    print(f"chosen MATCH_SCORE: {chosen}")
    # the early stop: the lowest score no wrong candidate reached
    wrong_max = float(s[y == 0].max()) if (y == 0).any() else 0.0
    print(f"highest score of a wrong candidate: {wrong_max:.4f} (STRONG_SCORE must be above it)")


# --------------------------------------------------------------------------- evaluation


def evaluate(args: argparse.Namespace, engine: Engine, zf: zipfile.ZipFile, parts: Split, ids: dict[str, int]) -> None:
    import faiss

    from backend.serve import limit_library_threads

    limit_library_threads()
    faiss.omp_set_num_threads(1)
    sets = {
        "known, default snaps": (snaps(parts.catalogue, args.test_known, seed=21), "default"),
        "known, hard snaps": (snaps(parts.catalogue, args.test_hard, seed=22), "hard"),
        "unknown paintings": (snaps(measured_unknown(parts), args.test_unknown, seed=23), "default"),
    }
    report: dict[str, dict] = {}
    for label, (pairs, difficulty) in sets.items():
        right = wrong = none = r1 = r10 = 0
        stages: dict[str, list[float]] = {}
        for name, seed in pairs:
            snap = simulate_snap(painting(zf, name), np.random.default_rng(seed), difficulty=difficulty)
            result = engine.search.search_image(COLLECTION, snap.jpeg, SearchOptions(top_k=10))
            truth = ids.get(name)
            got = result.match.hit.item.id if result.match else None
            if got is None:
                none += 1
            elif got == truth:
                right += 1
            else:
                wrong += 1
            ranked = [h.item.id for h in result.hits]
            r1 += bool(ranked[:1] == [truth]) if truth else 0
            r10 += bool(truth in ranked[:10]) if truth else 0
            for k, v in result.timings.to_dict().items():
                stages.setdefault(k, []).append(v)
        n = len(pairs)
        report[label] = {
            "snaps": n,
            "match right": right / n,
            "match wrong": wrong / n,
            "match null": none / n,
            "recall@1": r1 / n,
            "recall@10": r10 / n,
            "median ms": {k: round(float(np.median(v)), 1) for k, v in stages.items()},
        }
        print(label, json.dumps(report[label]))
    known = report["known, default snaps"]
    precision = known["match right"] / max(known["match right"] + known["match wrong"], 1e-9)
    print(f"precision of match on known default snaps: {precision:.4f}")
    (args.work / "evaluation.json").write_text(json.dumps(report, indent=1))


def open_work(datasets: Path | None, work: Path) -> tuple[Path, Engine] | None:
    """The WikiArt zip and an engine over ``work``'s data folder, for the hand-run recognition
    scripts; None (said on stderr) when the zip is absent."""
    zip_path = (datasets or Path("shared/datasets")) / WIKIART_ZIP
    if not zip_path.exists():
        print(f"{zip_path} is absent: this script needs the WikiArt zip", file=sys.stderr)
        return None
    work.mkdir(parents=True, exist_ok=True)
    return zip_path, Engine.open(Settings(data_dir=work / "data"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--work", type=Path, required=True, help="scratch folder (collection, caches)")
    p.add_argument("--datasets", type=Path, default=shared_datasets_dir(), help="folder of the shared zips")
    p.add_argument("--catalogue", type=int, default=3000)
    p.add_argument("--calib-known", type=int, default=300)
    p.add_argument("--calib-unknown", type=int, default=250)
    p.add_argument("--calib-hard", type=int, default=200)
    p.add_argument("--test-known", type=int, default=500)
    p.add_argument("--test-hard", type=int, default=300)
    p.add_argument("--test-unknown", type=int, default=250)
    p.add_argument("--max-unknown-matched", type=float, default=0.02)
    p.add_argument("--max-known-wrong", type=float, default=0.005)
    p.add_argument("--evaluate", action="store_true", help="measure the shipped rule on held-out snaps")
    args = p.parse_args(argv)
    opened = open_work(args.datasets, args.work)
    if opened is None:
        return 2
    zip_path, engine = opened
    t0 = time.perf_counter()
    with zipfile.ZipFile(zip_path) as zf:
        parts = split(wikiart_names(zf), args.catalogue)
        build_collection(engine, zf, parts.catalogue, args.work / "catalogue")
        cid = engine.catalog.collection_id(COLLECTION)
        kept = engine.catalog.ids_with_status(cid, "indexed") + engine.catalog.ids_with_status(cid, "duplicate")
        # a painting linked as a duplicate is recognised as the item it was linked to
        ids = {v.source_path: v.duplicate_of or v.id for v in engine.catalog.get_items(kept).values()}
        (evaluate if args.evaluate else calibrate)(args, engine, zf, parts, ids)
    print(f"({math.ceil(time.perf_counter() - t0)} s)", file=sys.stderr)
    engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
