"""Figure 6: find the photographed painting from a simulated phone snap of it on a wall.

Protocol: N WikiArt paintings (``--quick`` 50, full 500, drawn with a fixed seed) are each
hung on a simulated wall and photographed (``dataset_tools.camera_snap.simulate_snap``,
1024×768, "default" difficulty: frame, perspective, tilt, colour cast, glare, blur, noise,
JPEG). Each snap is decoded exactly as the server decodes a query (``decode_image`` with
``query_min_side``) and searched, by cosine on the EfficientNet-Lite0 embedding, against all
3 500 WikiArt paintings (the ``_dup`` files left out); we report recall@1 and recall@10 of the
photographed painting for:

* (a) **whole photo**, centre crop — the reference (DESIGN.md: ≈ 0.33 / 0.55);
* (b) **server path**: ``crop_artwork`` (locate + rectify), then the model's preprocessing;
* (c) **oracle**: rectified with the true painting corners (upper bound for any locator);

and, to separate *finding* the painting from *describing* it, (b) and (c) with the rectified
crop letterboxed onto a black square ("pad") instead of centre-cropped: the catalogue images
are 224 px squares with the painting letterboxed on black, so a centre crop of a rectified
landscape painting throws away its sides, which the catalogue embedding saw.

The locator is also scored directly: IoU of its quadrilateral with the true painting corners
(and with the frame's, to spot "found the frame, not the painting").
"""

from __future__ import annotations

import io
import sys
import time
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image

from .context import BenchContext
from .datasets import WIKIART_ZIP
from .figures import Latency, SkipSection, TargetCheck, fmt_ratio, md_table, ratio
from .retrieval import target_ranks

NAME = "camera_snaps"
TITLE = "Camera snaps: finding the photographed painting"
DESIGN_REFERENCE = (0.33, 0.55)


@dataclass
class VariantRecall:
    key: str
    description: str
    recall_at_1: float
    recall_at_10: float
    median_rank: float


@dataclass
class LocatorBucket:
    bucket: str
    count: int
    server_r1: float
    server_pad_r1: float
    oracle_r1: float
    oracle_pad_r1: float


@dataclass
class CameraSnapsResult:
    n_snaps: int
    collection_size: int
    out_size: tuple[int, int]
    difficulty: str
    variants: list[VariantRecall]
    buckets: list[LocatorBucket]
    median_iou: float
    found_rate: float
    locate: Latency
    diagnosis: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def _v(self, key: str) -> VariantRecall:
        return next(v for v in self.variants if v.key == key)

    def headline(self) -> str:
        a, b, c = self._v("whole"), self._v("server"), self._v("oracle")
        return (
            f"recall@1 / @10: whole photo {a.recall_at_1:.2f} / {a.recall_at_10:.2f}, server locate+rectify "
            f"{b.recall_at_1:.2f} / {b.recall_at_10:.2f} ({fmt_ratio(ratio(b.recall_at_1, a.recall_at_1))} the whole photo at @1), "
            f"oracle corners {c.recall_at_1:.2f} / {c.recall_at_10:.2f}"
        )

    def targets(self) -> list[TargetCheck]:
        return []

    def markdown(self) -> str:
        ref = self._v("whole")
        rows = [
            [
                f"({v.key}) {v.description}",
                f"{v.recall_at_1:.3f} ± {_se(v.recall_at_1, self.n_snaps):.3f}",
                f"{v.recall_at_10:.3f} ± {_se(v.recall_at_10, self.n_snaps):.3f}",
                f"{v.median_rank:.0f}",
                fmt_ratio(ratio(v.recall_at_1, ref.recall_at_1)),
                fmt_ratio(ratio(v.recall_at_10, ref.recall_at_10)),
            ]
            for v in self.variants
        ]
        brows = [
            [
                b.bucket,
                b.count,
                f"{b.server_r1:.2f}",
                f"{b.server_pad_r1:.2f}",
                f"{b.oracle_r1:.2f}",
                f"{b.oracle_pad_r1:.2f}",
            ]
            for b in self.buckets
        ]
        out = [
            f'{self.n_snaps} simulated snaps ({self.out_size[0]}×{self.out_size[1]}, difficulty "{self.difficulty}") of '
            f"WikiArt paintings, each searched against all {self.collection_size} WikiArt embeddings (cosine, exact). "
            f"Reference (a): the whole photo; the design note measured ≈ {DESIGN_REFERENCE[0]} / {DESIGN_REFERENCE[1]} for it.",
            "",
            md_table(["query", "recall@1 ± s.e.", "recall@10 ± s.e.", "median rank", "@1 vs (a)", "@10 vs (a)"], rows),
            "",
            "(± is the binomial standard error over the snaps; variants are paired — the same snaps — so their "
            "differences are less noisy than that.)",
            "",
            f"Locator: found something in {self.found_rate:.0%} of snaps; median IoU with the true painting "
            f"{self.median_iou:.2f}; locate + rectify {self.locate.short()}.",
            "",
            "recall@1 by what the locator did:",
            "",
            md_table(
                ["locator outcome", "snaps", "server (crop)", "server (pad)", "oracle (crop)", "oracle (pad)"], brows
            ),
        ]
        if self.diagnosis:
            out += ["", "**Diagnosis**", ""] + [f"- {d}" for d in self.diagnosis]
        out += [f"\n> {n}" for n in self.notes]
        return "\n".join(out)


def _se(p: float, n: int) -> float:
    return float(np.sqrt(max(p * (1 - p), 0.0) / max(n, 1)))


def letterbox(img: Image.Image, fill: tuple[int, int, int] = (0, 0, 0)) -> Image.Image:
    """Pad to a square, centred, like the 224 px catalogue images (black bars)."""
    w, h = img.size
    side = max(w, h)
    if w == h:
        return img
    canvas = Image.new("RGB", (side, side), fill)
    canvas.paste(img, ((side - w) // 2, (side - h) // 2))
    return canvas


def quad_iou(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, np.float32).reshape(-1, 1, 2)
    b = np.asarray(b, np.float32).reshape(-1, 1, 2)
    try:
        inter, _ = cv2.intersectConvexConvex(a, b)
    except cv2.error:
        return 0.0
    ua = abs(cv2.contourArea(a)) + abs(cv2.contourArea(b)) - inter
    return float(inter / ua) if ua > 0 else 0.0


def _bucket(found: bool, iou_p: float, iou_f: float, framed: bool) -> str:
    if not found:
        return "not found (whole photo used)"
    if iou_p >= 0.9:
        return "painting found (IoU ≥ 0.9)"
    if framed and iou_f >= 0.8 and iou_f > iou_p:
        return "frame's outer edge instead of the painting"
    if iou_p >= 0.5:
        return "roughly (0.5 ≤ IoU < 0.9)"
    return "something else (IoU < 0.5)"


def run(ctx: BenchContext) -> CameraSnapsResult:
    from tqdm import tqdm

    from backend.engine.artwork import ArtworkRegion, crop_artwork, rectify
    from dataset_tools.camera_snap import simulate_snap
    from dataset_tools.images import decode_image

    art = ctx.wikiart()
    if art is None:
        raise SkipSection(ctx.missing(WIKIART_ZIP))
    coll = ctx.describe(art, ctx.cnn)
    n = 50 if ctx.quick else 500
    out_size = (1024, 768)
    picks = np.random.default_rng(ctx.seed + 6).permutation(len(art))[:n]
    keys = ("whole", "server", "server_pad", "oracle", "oracle_pad")
    crops: dict[str, list[Image.Image]] = {k: [] for k in keys}
    vecs: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    info: list[tuple[bool, float, float, bool]] = []
    locate_ms: list[float] = []

    def flush() -> None:
        for k in keys:
            if crops[k]:
                vecs[k].append(ctx.cnn.describe(crops[k]))
                crops[k].clear()

    for p in tqdm(picks, desc="camera snaps", unit="snap", file=sys.stderr, leave=False, dynamic_ncols=True):
        painting = Image.open(io.BytesIO(art.read(int(p)))).convert("RGB")
        snap = simulate_snap(painting, np.random.default_rng([ctx.seed, int(p)]), out_size=out_size)
        photo = decode_image(snap.jpeg, max_pixels=ctx.settings.max_pixels, min_side=ctx.settings.query_min_side).image
        sx = photo.width / snap.photo.width
        sy = photo.height / snap.photo.height
        scale = np.float32([sx, sy])
        to_photo = lambda q, scale=scale: ((np.asarray(q, np.float32) + 0.5) * scale - 0.5).astype(np.float32)  # noqa: E731
        t0 = time.perf_counter()
        located, region = crop_artwork(photo)
        locate_ms.append((time.perf_counter() - t0) * 1000)
        oracle = rectify(photo, ArtworkRegion(corners=to_photo(snap.corners), confidence=1.0, found=True))
        crops["whole"].append(photo)
        crops["server"].append(located)
        crops["server_pad"].append(letterbox(located))
        crops["oracle"].append(oracle)
        crops["oracle_pad"].append(letterbox(oracle))
        framed = snap.params.frame_width + snap.params.mat_width > 0
        iou_p = quad_iou(region.corners, to_photo(snap.corners)) if region.found else 0.0
        iou_f = quad_iou(region.corners, to_photo(snap.frame_corners)) if region.found else 0.0
        info.append((bool(region.found), iou_p, iou_f, framed))
        if len(crops["whole"]) >= 16:
            flush()
    flush()

    targets = picks.astype(np.int64)
    ranks = {k: target_ranks(np.concatenate(vecs[k]), coll, targets) for k in keys}
    desc = {
        "whole": "whole photo, centre crop (reference)",
        "server": "server path: crop_artwork (locate + rectify), centre crop",
        "server_pad": "server locate + rectify, letterboxed to a square",
        "oracle": "oracle: true corners, rectify, centre crop",
        "oracle_pad": "oracle: true corners, rectify, letterboxed",
    }
    variants = [
        VariantRecall(k, desc[k], float(np.mean(r <= 1)), float(np.mean(r <= 10)), float(np.median(r)))
        for k, r in ranks.items()
    ]
    labels = [_bucket(*x) for x in info]
    order = [
        "painting found (IoU ≥ 0.9)",
        "roughly (0.5 ≤ IoU < 0.9)",
        "frame's outer edge instead of the painting",
        "something else (IoU < 0.5)",
        "not found (whole photo used)",
    ]
    buckets = []
    for b in order:
        m = np.array([lab == b for lab in labels])
        if m.any():
            buckets.append(
                LocatorBucket(
                    b,
                    int(m.sum()),
                    float(np.mean(ranks["server"][m] <= 1)),
                    float(np.mean(ranks["server_pad"][m] <= 1)),
                    float(np.mean(ranks["oracle"][m] <= 1)),
                    float(np.mean(ranks["oracle_pad"][m] <= 1)),
                )
            )
    found = np.array([x[0] for x in info])
    ious = np.array([x[1] for x in info])
    result = CameraSnapsResult(
        n_snaps=n,
        collection_size=len(art),
        out_size=out_size,
        difficulty="default",
        variants=variants,
        buckets=buckets,
        median_iou=float(np.median(ious[found])) if found.any() else 0.0,
        found_rate=float(found.mean()),
        locate=Latency.of(locate_ms),
    )
    result.diagnosis = _diagnose(result)
    result.notes = [
        "Simulated snaps, not real photos: the painting is a flat texture warped by a homography, so the oracle is a "
        "true upper bound for rectification; real photos add reflections, lens distortion and partial occlusion.",
        "The collection holds 3 500 paintings; recall@k falls with collection size, so compare variants, not absolute "
        "values across collections.",
    ]
    return result


def _diagnose(r: CameraSnapsResult) -> list[str]:
    """Plain statements about where recall is lost, from the numbers above."""
    v = {x.key: x for x in r.variants}
    out = []
    gap = v["oracle"].recall_at_1 - v["server"].recall_at_1
    out.append(
        f"oracle − server recall@1 = {gap:+.2f} (centre crop), "
        f"{v['oracle_pad'].recall_at_1 - v['server_pad'].recall_at_1:+.2f} (letterboxed): what a perfect locator would add."
    )
    pad_gain = v["oracle_pad"].recall_at_1 - v["oracle"].recall_at_1
    out.append(
        f"letterboxing instead of centre-cropping the rectified painting changes oracle recall@1 by {pad_gain:+.2f} "
        f"and server recall@1 by {v['server_pad'].recall_at_1 - v['server'].recall_at_1:+.2f}: "
        + (
            "the crop's preprocessing matters — the catalogue embeddings saw the whole painting (letterboxed on "
            "black), a centre crop of a rectified non-square painting does not."
            if pad_gain > 0.03
            else "preprocessing of the rectified crop is not the main loss."
        )
    )
    good = next((b for b in r.buckets if b.bucket.startswith("painting found")), None)
    if good is not None:
        out.append(
            f"where the locator found the painting (IoU ≥ 0.9, {good.count}/{r.n_snaps} snaps) the server reaches "
            f"recall@1 {good.server_r1:.2f} vs oracle {good.oracle_r1:.2f}: "
            + (
                "residual corner error costs little there."
                if good.oracle_r1 - good.server_r1 < 0.05
                else "even 'found' crops lose recall (corner error, slight over/under-crop)."
            )
        )
    bad = [b for b in r.buckets if not b.bucket.startswith("painting found")]
    if bad:
        lost = sum(b.count * (b.oracle_r1 - b.server_r1) for b in bad) / max(1, r.n_snaps)
        out.append(
            "locator misses: "
            + ", ".join(f"{b.bucket}: {b.count}" for b in bad)
            + f"; they account for ≈ {lost:+.2f} of recall@1 (oracle − server on those snaps, per snap overall)."
        )
    return out
