"""Golden images and their embeddings: pin the channel order and normalisation of the served model.

Four small pictures are drawn here from integer arithmetic alone (no random generator, no
JPEG codec, nothing that differs between machines or library versions): textured, shaded
discs in orange, lemon yellow, apple green and blue on white. They are strongly coloured and
unlike themselves with red and blue swapped, so their embeddings move clearly under a BGR
mistake (cosine ≈ 0.75–0.92 to the right ones) or a wrong mean/std (≈ 0.82–0.91), while the
right preprocessing reproduces the stored vectors to float16 precision. The network's own
ImageNet head agrees that the first three are an orange, a lemon and a Granny Smith apple;
with red and blue swapped it calls them a ping-pong ball, a balloon and a ping-pong ball.

The goldens belong to one embedding model version, ``embedding_cache_key()`` (weights,
preprocessing spec, export format and torch version), stored beside them. When the model
changes on purpose, regenerate them and commit the two files::

    PYTHONPATH=. python -m tests.models.golden_images --write

(it builds or reuses the ONNX export under ``$ARTSNAP_TEST_MODELS_DIR``, default
``var/models``), then check that the top-1 classes it prints are still an orange, a lemon and
a Granny Smith before committing: if they are not, the change is a bug, not a new model.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

GOLDEN_DIR = Path(__file__).resolve().parent / "goldens"
VECTORS_FILE = GOLDEN_DIR / "embedding-goldens.f16.npy"
META_FILE = GOLDEN_DIR / "embedding-goldens.json"

SIZE = 224
BACKGROUND = 250
#: name → (RGB of the disc, the ImageNet-1k class the network's head sees in it, or None)
DISCS: dict[str, tuple[tuple[int, int, int], int | None]] = {
    "orange": ((245, 130, 20), 950),  # "orange"
    "lemon": ((240, 220, 40), 951),  # "lemon"
    "green": ((90, 190, 40), 948),  # "Granny Smith"
    "blue": ((30, 60, 200), None),  # no fruit: the head's guess is not pinned, only the vector
}


def _texture() -> np.ndarray:
    """A fine peel-like texture, 1 ± 0.06, from an integer hash of the pixel index."""
    i = np.arange(SIZE * SIZE, dtype=np.uint64).reshape(SIZE, SIZE)
    m = np.uint64(2**32)
    h = (i * np.uint64(2654435761)) % m
    h = ((h ^ (h >> np.uint64(13))) * np.uint64(1274126177)) % m
    return 1.0 + 0.12 * ((h % np.uint64(1000)).astype(np.float32) / 1000.0 - 0.5)


def golden_image(rgb: tuple[int, int, int]) -> Image.Image:
    """A shaded, textured disc of colour ``rgb`` lit from the top left, on white, 224 × 224."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) / (SIZE - 1)
    inside = np.hypot(xx - 0.5, yy - 0.52) < 0.36
    shade = np.clip(1.1 - 0.6 * np.hypot(xx - 0.374, yy - 0.394) / 0.36, 0.25, 1.2)
    tex = _texture()
    img = np.full((SIZE, SIZE, 3), BACKGROUND, np.float32)
    for c in range(3):
        img[..., c] = np.where(inside, np.clip(rgb[c] * shade * tex, 0, 255), BACKGROUND)
    return Image.fromarray(img.astype(np.uint8), "RGB")


def golden_images() -> dict[str, Image.Image]:
    return {name: golden_image(rgb) for name, (rgb, _) in DISCS.items()}


def load_goldens() -> tuple[dict[str, Any], np.ndarray]:
    """(metadata, float32 vectors (N, 1280) in ``metadata["images"]`` order)."""
    meta = json.loads(META_FILE.read_text())
    return meta, np.load(VECTORS_FILE).astype(np.float32)


def compute(model: Any) -> tuple[np.ndarray, np.ndarray]:
    """(embeddings, logits) of the golden images through ``model.run_images`` (the serving path)."""
    out = model.run_images(list(golden_images().values()))
    return out["embedding"], out["logits"]


def main(argv: list[str] | None = None) -> int:
    from edge_models.embedding_model import embedding_cache_key, ensure_embedding_model
    from edge_models.runtime import OnnxModel

    parser = argparse.ArgumentParser(description="Show or rewrite the golden embeddings of the served model.")
    parser.add_argument("--write", action="store_true", help="write tests/models/goldens/ (else only show)")
    args = parser.parse_args(argv)
    cache = Path(os.environ.get("ARTSNAP_TEST_MODELS_DIR", "var/models"))
    path, card = ensure_embedding_model(cache)
    emb, logits = compute(OnnxModel.load(path, card))
    top5 = np.argsort(-logits, axis=1)[:, :5]
    for name, row, lg in zip(DISCS, top5, logits):
        expected = DISCS[name][1]
        margin = float(lg[row[0]] - lg[row[1]])
        note = "" if expected is None else (" ok" if row[0] == expected else f" WRONG: expected {expected}")
        print(f"{name:8s} top-5 {row.tolist()} (top-1 margin {margin:.2f}){note}")
    meta = {
        "model_version": embedding_cache_key(),
        "images": list(DISCS),
        "top5": {name: row.tolist() for name, row in zip(DISCS, top5)},
        "regenerate": "PYTHONPATH=. python -m tests.models.golden_images --write",
    }
    if args.write:
        GOLDEN_DIR.mkdir(exist_ok=True)
        np.save(VECTORS_FILE, emb.astype(np.float16))
        text = json.dumps(meta, indent=1)  # one line per list, so a diff shows what moved
        text = re.sub(
            r"\[\s+([^\[\]]*?)\s+\]", lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text
        )
        META_FILE.write_text(text + "\n")
        print(f"wrote {VECTORS_FILE} and {META_FILE} for model {meta['model_version']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
