"""Why recognition missed: a per-failure breakdown of the bench's snaps and walls.

Whoever changes the features, the candidate routes or the decision needs to know *where*
the true painting is lost, not only how often. For every snap whose ``match`` is not the
photographed painting, this says which stage lost it:

* ``not a candidate``: neither route put it forward (its rank in the visual words' and the
  global embedding's top 100 of the whole photo is printed);
* ``verification fails``: it was a candidate, but verified directly against the photo it
  does not reach a plausible homography with enough inliers;
* ``decision rejects``: it verifies, but its evidence scores below the match threshold;
* ``outranked``: a wrong painting was matched instead.

It builds (once, under ``--work``) the same collection as the bench (``--catalogue``
paintings of the same split), renders the same snaps (same seeds as
``benchmarks.recognition``) and prints one line per failure, then a count per cause.

Usage::

    python -m benchmarks.recognition_failures --work /tmp/recognition-failures --levels steep hardest --walls 6
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np

from backend.engine.artwork import crop_artwork
from backend.engine.recognition import Recogniser, extract_query_features
from backend.engine.recognition.decision import MIN_INLIERS, evidence_of
from backend.engine.recognition.verification import QueryMatcher, verify
from backend.engine.services import Engine
from dataset_tools.camera_snap import simulate_snap
from dataset_tools.images import decode_image
from dataset_tools.wall_snap import simulate_wall

from .datasets import shared_datasets_dir
from .recognition import LEVELS
from .recognition_calibration import build_collection, open_work, split, wikiart_names
from .recognition_runs import COLLECTION, painting, search


def _rank(ids: np.ndarray | list[int], truth: int) -> int | None:
    listed = [int(i) for i in ids]
    return listed.index(truth) + 1 if truth in listed else None


def explain(engine: Engine, jpeg: bytes, truth: int, got: int | None) -> dict[str, object]:
    """Where ``truth`` is lost for this photo: ranks in both routes, its own verification."""
    cid = engine.catalog.collection_id(COLLECTION)
    stored = engine.feature_store.get(cid)
    image = decode_image(jpeg, min_side=engine.settings.query_min_side).image
    query = extract_query_features(image)
    rec = Recogniser(stored, query)
    words = stored.words()
    by_words: list[int] = []
    if words is not None:
        rows = np.arange(min(len(query), 500))
        by_words = [int(i) for i in words.top(stored.query_words(query.subset(rows)), 100)[0]]
    crop, region = crop_artwork(image)
    views = [image, crop] if region.found else [image]
    _, by_embedding = engine.index_store.get(cid, "cnn").search(engine.descriptors["cnn"].describe(views), 100)
    features = stored.get(truth)
    v = verify(QueryMatcher(query), truth, features) if features is not None else None
    e = evidence_of(v) if v is not None else None
    words_rank = _rank(by_words, truth)
    global_rank = min((r for r in (_rank(row, truth) for row in by_embedding) if r is not None), default=None)
    if got is not None:
        cause = "outranked"
    elif (words_rank is None or words_rank > 10) and (global_rank is None or global_rank > 10):
        cause = "not a candidate"
    elif e is None or e.inliers < MIN_INLIERS or not e.plausible:
        cause = "verification fails"
    elif not e.is_match:
        cause = "decision rejects"
    else:
        cause = "verifies alone (lost in the search flow)"
    return {
        "cause": cause,
        "keypoints": len(query),
        "words_rank": words_rank,
        "global_rank": global_rank,
        "matches": e.matches if e else 0,
        "inliers": e.inliers if e else 0,
        "ratio": round(e.inlier_ratio, 2) if e else 0,
        "coverage": round(e.coverage, 2) if e else 0,
        "plausible": e.plausible if e else False,
        "score": round(e.score, 3) if e else 0,
        "rec": rec is not None,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--work", type=Path, required=True, help="scratch folder (the collection is kept there)")
    p.add_argument("--datasets", type=Path, default=shared_datasets_dir())
    p.add_argument("--catalogue", type=int, default=600, help="600 as the quick bench, 3000 as the full one")
    p.add_argument("--per-level", type=int, default=12)
    p.add_argument("--levels", nargs="*", default=list(LEVELS), choices=LEVELS)
    p.add_argument("--walls", type=int, default=6)
    p.add_argument("--seed", type=int, default=0, help="the bench context's seed")
    args = p.parse_args(argv)
    opened = open_work(args.datasets, args.work)
    if opened is None:
        return 2
    zip_path, engine = opened
    causes: Counter[str] = Counter()
    try:
        with zipfile.ZipFile(zip_path) as zf:
            catalogue = split(wikiart_names(zf), 3000).catalogue[: args.catalogue]
            build_collection(engine, zf, catalogue, args.work / "catalogue", collection=COLLECTION)
            cid = engine.catalog.collection_id(COLLECTION)
            kept = engine.catalog.ids_with_status(cid, "indexed") + engine.catalog.ids_with_status(cid, "duplicate")
            ids = {v.source_path: v.duplicate_of or v.id for v in engine.catalog.get_items(kept).values()}
            rng = np.random.default_rng(args.seed + 10)
            known = [catalogue[int(i)] for i in rng.permutation(len(catalogue))]
            for level in args.levels:
                k_level = LEVELS.index(level)
                for k, name in enumerate(known[: args.per_level]):
                    snap = simulate_snap(
                        painting(zf, name), np.random.default_rng([100 + k_level, k]), difficulty=level
                    )
                    result = search(engine, snap.jpeg)
                    got = result.match.hit.item.id if result.match is not None else None
                    if got == ids[name]:
                        continue
                    why = explain(engine, snap.jpeg, ids[name], got)
                    causes[f"{level}: {why['cause']}"] += 1
                    print(level, k, name, why, flush=True)
            for g in range(args.walls):
                group = known[args.per_level + 3 * g : args.per_level + 3 * g + (2 + g % 2)]
                wall = simulate_wall([painting(zf, n) for n in group], np.random.default_rng([300, g]))
                result = search(engine, wall.jpeg)
                matched = {r.match.hit.item.id for r in result.regions if r.match is not None}
                for name in group:
                    if ids[name] in matched:
                        continue
                    why = explain(engine, wall.jpeg, ids[name], None)
                    causes[f"wall: {why['cause']}"] += 1
                    print("wall", g, name, why, f"regions={len(result.regions)}", flush=True)
    finally:
        engine.close()
    print("\nfailures by cause:")
    for cause, n in sorted(causes.items()):
        print(f"  {n:3d}  {cause}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
