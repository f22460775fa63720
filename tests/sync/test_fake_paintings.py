"""The fake Europeana's record images: one picture per record, its preview the same picture
smaller, and no two records so alike that deduplication at pull time would link them."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from dataset_tools.dedup import DuplicateIndex, content_hash, perceptual_hash
from europeana_sync.fake.synthetic import render_png, synthetic_records


def _image(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG"
    return img.convert("RGB")


def test_preview_is_the_full_image_at_half_size() -> None:
    for record in synthetic_records()[:7]:  # one per style
        full = _image(render_png(record.record_id))
        preview = _image(render_png(record.record_id, size=(160, 120)))
        assert full.size == (320, 240) and preview.size == (160, 120)
        a = np.asarray(full.resize((40, 30), Image.BOX), np.float64).ravel()
        b = np.asarray(preview.resize((40, 30), Image.BOX), np.float64).ravel()
        assert np.corrcoef(a, b)[0, 1] > 0.9, record.record_id


def test_no_two_records_are_duplicates_of_each_other() -> None:
    index = DuplicateIndex()
    for record in synthetic_records():
        data = render_png(record.record_id)
        assert data == render_png(record.record_id)  # same id, same bytes: a re-pull downloads nothing new
        sha, ph = content_hash(data), perceptual_hash(_image(data))
        assert index.find(sha, ph) is None, record.record_id
        index.add(record.record_id, sha, ph)
