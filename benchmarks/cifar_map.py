"""Figure 4: CIFAR-10 retrieval mAP@5000 with the pretrained embedding, no training.

Protocol (the usual deep-hashing one): 1 000 test images (the first 100 per class, in file
order) query the 59 000 other images (all 50 000 train + the remaining 9 000 test); relevant =
same class; cosine on the EfficientNet-Lite0 embedding (32 px images go through the same
decode + preprocessing as catalogue images: upscaled to 224). ``--quick``: 100 queries (10 per
class) over 5 000 images (450 train + 50 other test per class), where mAP@5000 is mAP over the
whole database: not comparable with the full figure, only a smoke test.

References in the same run: a random ranking (chance level ≈ the class share, 0.1) and the
engine's 128-bin HSV colour histogram (``ColorDescriptor``) under the same protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .context import BenchContext
from .datasets import CIFAR_ZIP, ImageSet, concat
from .figures import SkipSection, TargetCheck, fmt_ratio, md_table, ratio
from .retrieval import MapResult, mean_average_precision, random_scores

NAME = "cifar_map"
TITLE = "CIFAR-10 retrieval mAP@5000"


@dataclass
class CifarMapResult:
    protocol: str
    k: int
    n_queries: int
    n_database: int
    cnn: MapResult
    color: MapResult
    random: MapResult
    notes: list[str] = field(default_factory=list)

    def headline(self) -> str:
        return (
            f"mAP@{self.k} {self.cnn.map:.3f} ({fmt_ratio(ratio(self.cnn.map, self.random.map))} random, "
            f"{fmt_ratio(ratio(self.cnn.map, self.color.map))} colour histogram)"
        )

    def targets(self) -> list[TargetCheck]:
        return []

    def markdown(self) -> str:
        rows = []
        for name, r in (
            ("EfficientNet-Lite0 embedding (cosine)", self.cnn),
            ("HSV colour histogram (reference)", self.color),
            ("random ranking (chance)", self.random),
        ):
            rows.append(
                [
                    name,
                    f"{r.map:.4f}",
                    f"{r.map_ir:.4f}",
                    f"{r.precision_at_k:.4f}",
                    fmt_ratio(ratio(self.cnn.map, r.map)),
                ]
            )
        per = md_table(
            ["class", "mAP (CNN)", "mAP (colour)"],
            [
                [c, f"{v:.3f}", f"{self.color.per_class_map.get(c, float('nan')):.3f}"]
                for c, v in self.cnn.per_class_map.items()
            ],
        )
        return "\n".join(
            [
                self.protocol,
                "",
                md_table(
                    [
                        "descriptor",
                        f"mAP@{self.k}",
                        f"mAP@{self.k} (IR convention)",
                        f"precision@{self.k}",
                        f"CNN ÷ this (mAP@{self.k})",
                    ],
                    rows,
                ),
                "",
                "<details><summary>per class</summary>\n",
                per,
                "\n</details>",
            ]
            + [f"\n> {n}" for n in self.notes]
        )


def split(train: ImageSet, test: ImageSet, quick: bool) -> tuple[ImageSet, ImageSet]:
    """(queries, database) by the protocol above."""
    per_q = 10 if quick else 100
    q_idx, rest_test = [], []
    for c in range(len(test.class_names)):
        idx = np.flatnonzero(test.labels == c)
        q_idx += idx[:per_q].tolist()
        rest_test += idx[per_q:].tolist()
    if quick:
        tr = [i for c in range(len(train.class_names)) for i in np.flatnonzero(train.labels == c)[:450].tolist()]
        te = [
            i for c in range(len(test.class_names)) for i in np.flatnonzero(test.labels[rest_test] == c)[:50].tolist()
        ]
        te = [rest_test[i] for i in te]
    else:
        tr, te = list(range(len(train))), rest_test
    queries = test.subset(q_idx, name=f"cifar10-queries-{len(q_idx)}")
    db_train = train.subset(tr, name=f"cifar10-train-{len(tr)}")
    db_test = test.subset(te, name=f"cifar10-test-rest-{len(te)}")
    return queries, concat(db_train, db_test)


def run(ctx: BenchContext) -> CifarMapResult:
    data = ctx.cifar()
    if data is None:
        raise SkipSection(ctx.missing(CIFAR_ZIP))
    train, test = data
    queries, database = split(train, test, ctx.quick)
    k = 5000
    ctx.log(f"cifar: {len(queries)} queries over {len(database)} images (embeddings cached in {ctx.cache_dir})")
    res: dict[str, MapResult] = {}
    for desc in (ctx.cnn, ctx.color):
        qv = ctx.describe(queries, desc)
        dv = ctx.describe(database, desc)
        res[desc.name] = mean_average_precision(
            qv, queries.labels, dv, database.labels, k, class_names=queries.class_names
        )
    res["random"] = mean_average_precision(
        np.zeros((len(queries), 1)),
        queries.labels,
        np.zeros((len(database), 1)),
        database.labels,
        k,
        scores_fn=random_scores(len(database), ctx.seed),
    )
    protocol = (
        f"Protocol: {len(queries)} CIFAR-10 test queries ({len(queries) // 10} per class, first in file order) over "
        f"{len(database)} database images ({'450 train + 50 other test per class (quick subset)' if ctx.quick else 'all 50 000 train + the other 9 000 test'}); "
        f"relevant = same class; ranking by cosine; mAP@{k} in the deep-hashing convention (mean precision at the relevant "
        "positions within the top k). No training: ImageNet-pretrained EfficientNet-Lite0, 32 px images upscaled by the "
        "model card's preprocessing. Data: `cifar10-jpeg.zip` (JPEG re-encodes of CIFAR-10)."
    )
    notes = []
    if ctx.quick:
        notes.append(
            "quick mode: the database has only 5 000 images, so mAP@5000 ranks all of it; not comparable with "
            "the full protocol's figure, which is the one to quote"
        )
    return CifarMapResult(
        protocol=protocol,
        k=k,
        n_queries=len(queries),
        n_database=len(database),
        cnn=res["cnn"],
        color=res["color"],
        random=res["random"],
        notes=notes,
    )
