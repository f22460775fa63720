"""Run the exported ``.tflite`` as an Android app would: LiteRT interpreter, card-driven.

The decision is the card's: single-label models answer their top-1 label when its calibrated
probability reaches ``extra.abstain_threshold`` and nothing ("none of these") otherwise;
multi-label models answer every label over its own threshold. Photos are turned upright from
their EXIF orientation before anything else, as the Kotlin and Swift clients do.

Nothing here hard-codes the preprocessing: sizes, mean and std come from the model card
(``model_card.json`` beside the file, or the card embedded in the .tflite's metadata), and
the one implementation of the resize/crop/normalise steps is ``edge_models.preprocessing``.
The Kotlin and Swift clients mirror these steps with the same card fields.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from edge_models.preprocessing import PreprocessSpec

from .photos import open_upright

CARD_KEY = "artsnap.model_card"


@dataclass(frozen=True)
class OnDeviceResult:
    labels: list[tuple[str, float]]  # decided labels (after abstain / per-label thresholds), best first
    probabilities: dict[str, float]
    embedding: np.ndarray  # L2-normalised; send it to /search instead of the photo
    abstained: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class OnDeviceModel:
    def __init__(self, interpreter: Any, card: dict[str, Any]) -> None:
        self.card = card
        self.spec = PreprocessSpec.from_dict(card["preprocessing"])
        self.labels: list[str] = list(card["labels"])
        self._interp = interpreter
        self._runner = interpreter.get_signature_runner()
        self._input_name = next(iter(self._runner.get_input_details()))

    @classmethod
    def load(cls, tflite_path: str | Path, card: dict[str, Any] | None = None, *, threads: int = 2) -> OnDeviceModel:
        from ai_edge_litert.interpreter import Interpreter

        path = Path(tflite_path)
        if card is None:
            card = _card_for(path)
        return cls(Interpreter(model_path=str(path), num_threads=threads), card)

    @property
    def embedding_space(self) -> str | None:
        """The space of :attr:`OnDeviceResult.embedding` (send it with a vector search)."""
        return self.card.get("embedding_space")

    def input_tensor(self, photo: Image.Image | str | Path | bytes) -> np.ndarray:
        """The (1, S, S, 3) float32 input: EXIF orientation applied, shorter side resized with an
        antialiasing filter, centre crop, normalised, all from the card's preprocessing."""
        img = open_upright(photo)
        x = self.spec.to_array(img)[None].transpose(0, 2, 3, 1)  # NCHW → NHWC for TFLite
        return np.ascontiguousarray(x, dtype=np.float32)

    def predict(self, photo: Image.Image | str | Path | bytes) -> OnDeviceResult:
        return self.predict_tensor(self.input_tensor(photo))

    def predict_tensor(self, x: np.ndarray) -> OnDeviceResult:
        """Run a ready input tensor (see :meth:`input_tensor`) and apply the card's decision rule."""
        out = self._runner(**{self._input_name: np.ascontiguousarray(x, dtype=np.float32)})
        probs = np.asarray(out["probabilities"], dtype=np.float32).reshape(-1)
        emb = np.asarray(out["embedding"], dtype=np.float32).reshape(-1)
        extra = self.card.get("extra", {})
        by_label = {name: float(p) for name, p in zip(self.labels, probs)}
        if extra.get("multi_label"):
            th = extra.get("label_thresholds") or [0.5] * len(self.labels)
            chosen = [(n, float(p)) for n, p, t in zip(self.labels, probs, th) if p >= t]
        else:
            best = int(np.argmax(probs))
            chosen = (
                [(self.labels[best], float(probs[best]))]
                if probs[best] >= float(extra.get("abstain_threshold", 0.0))
                else []
            )
        chosen.sort(key=lambda lp: -lp[1])
        return OnDeviceResult(labels=chosen, probabilities=by_label, embedding=emb, abstained=not chosen)


def _card_for(path: Path) -> dict[str, Any]:
    beside = path.with_name("model_card.json")
    if beside.is_file():
        return json.loads(beside.read_text())
    from edge_models.tflite_metadata import read_metadata

    meta = read_metadata(path)
    if CARD_KEY not in meta:
        raise ValueError(f"{path} carries no model card and has no model_card.json beside it")
    return json.loads(meta[CARD_KEY])
