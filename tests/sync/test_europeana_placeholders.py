"""Europeana's "no thumbnail" icon is recognised and never taken for an artwork (defect 3)."""

from __future__ import annotations

import io
import random
import zipfile

import imagehash
import pytest
import requests
from PIL import Image

from europeana_sync.fake.synthetic import render_png, synthetic_records
from europeana_sync.fake.thumbnails import render_placeholder
from europeana_sync.placeholders import KNOWN_PLACEHOLDERS, MAX_DISTANCE, is_placeholder, match_placeholder

KEY = {"X-Api-Key": "k"}


def test_the_fake_placeholder_has_the_real_icons_defining_properties():
    data = render_placeholder()
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG" and image.size == (293, 293)
    real = next(p for p in KNOWN_PLACEHOLDERS if p.name == "europeana-thumbnail-v2-image")
    # the fingerprint was taken from the real EU_thumbnails_image.png
    assert imagehash.phash(image) - real.hash <= MAX_DISTANCE
    match = match_placeholder(data)
    assert match is not None and match.placeholder is real and not match.exact


@pytest.mark.parametrize("size, quality", [(293, 95), (200, 75), (400, 60)])
def test_a_re_encoded_or_resized_placeholder_is_still_recognised(size, quality):
    image = Image.open(io.BytesIO(render_placeholder())).convert("RGB").resize((size, size))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    assert is_placeholder(buffer.getvalue())


def test_artworks_and_junk_are_not_placeholders():
    for record in synthetic_records():
        assert not is_placeholder(render_png(record.record_id, size=(320, 240), style=record.style))
    square_grey = Image.new("L", (293, 293), 232)  # flat grey square without the icon
    buffer = io.BytesIO()
    square_grey.save(buffer, format="PNG")
    assert not is_placeholder(buffer.getvalue())
    assert not is_placeholder(b"<html>not an image</html>") and not is_placeholder(b"")


def test_no_wikiart_painting_is_taken_for_a_placeholder(wikiart_zip):
    with zipfile.ZipFile(wikiart_zip) as archive:
        names = [n for n in archive.namelist() if n.endswith(".jpg")]
        for name in random.Random(14).sample(names, 300):
            assert not is_placeholder(archive.read(name)), name


def test_the_fake_thumbnail_api_answers_200_with_the_icon_when_it_has_no_thumbnail(fake):
    unknown = requests.get(
        f"{fake.url}/thumbnail/v2/url.json",
        params={"uri": "http://provider.example/img/lost.jpg", "type": "IMAGE", "size": "w400"},
        timeout=5,
    )
    assert unknown.status_code == 200 and unknown.headers["Content-Type"] == "image/png"
    assert int(unknown.headers["Content-Length"]) == len(unknown.content)
    assert is_placeholder(unknown.content)
    known = requests.get(
        f"{fake.url}/thumbnail/v2/url.json",
        params={"uri": f"{fake.url}/fake-media/9200999/artsnap_demo_004/full.png", "type": "IMAGE"},
        timeout=5,
    )
    assert known.status_code == 200 and not is_placeholder(known.content)
    assert requests.get(f"{fake.url}/thumbnail/v2/url.json", params={"uri": "nope"}, timeout=5).status_code == 400


def test_placeholder_previews_and_html_full_images_can_be_switched_on(fake):
    fake.set_faults(placeholder_previews=1, html_full_images=1)
    preview = requests.get(f"{fake.url}/fake-media/9200999/artsnap_demo_004/preview.png", timeout=5)
    assert preview.status_code == 200 and is_placeholder(preview.content)
    full = requests.get(f"{fake.url}/fake-media/9200999/artsnap_demo_004/full.png", timeout=5)
    assert full.status_code == 200 and full.headers["Content-Type"].startswith("text/html")
    again = requests.get(f"{fake.url}/fake-media/9200999/artsnap_demo_004/preview.png", timeout=5)
    assert not is_placeholder(again.content)
