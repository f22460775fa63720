"""Deleting items keeps the collection whole: duplicates are promoted or deleted, files go
with their item, and a re-ingest repairs duplicates an older delete left pointing nowhere."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import update

from backend.engine.catalog.models import Item
from backend.engine.search_options import SearchOptions
from backend.engine.services import Engine


def _resaved(data: bytes) -> bytes:
    """The same picture, other bytes: 90 % size, JPEG quality 70 (a near duplicate)."""
    img = Image.open(io.BytesIO(data)).convert("RGB")
    img = img.resize((img.width * 9 // 10, img.height * 9 // 10), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=70)
    return buf.getvalue()


@pytest.fixture
def source(tmp_path: Path, paint_jpeg) -> Path:
    """Six distinct paintings, an exact copy of one under another label, a re-saved copy of another."""
    root = tmp_path / "src"
    for fam in ("mondrian", "seascape"):
        (root / fam).mkdir(parents=True)
        for i in range(3):
            (root / fam / f"{fam}_{i}.jpg").write_bytes(paint_jpeg(fam, i, size=160))
    (root / "seascape" / "copy_of_mondrian_0.jpg").write_bytes((root / "mondrian" / "mondrian_0.jpg").read_bytes())
    (root / "seascape" / "seascape_1_resaved.jpg").write_bytes(
        _resaved((root / "seascape" / "seascape_1.jpg").read_bytes())
    )
    return root


@pytest.fixture
def engine(make_settings, source: Path) -> Engine:
    eng = Engine.open(make_settings())
    summary = eng.ingest.ingest(source, "art")
    assert (summary.added, summary.exact_duplicates, summary.near_duplicates) == (6, 1, 1), summary.to_dict()
    yield eng
    eng.close()


def items(eng: Engine) -> dict[str, object]:
    cid = eng.catalog.collection_id("art")
    ids = [i for st in ("indexed", "duplicate", "pending") for i in eng.catalog.ids_with_status(cid, st)]
    return {v.source_path: v for v in eng.catalog.get_items(ids).values()}


def stored_files(eng: Engine) -> set[str]:
    root = eng.settings.data_dir
    return {p.relative_to(root).as_posix() for d in ("media", "thumbs") for p in (root / d).rglob("*") if p.is_file()}


def top_hit(eng: Engine, item_id: int) -> int:
    """Search with the item's own stored picture; the answer's first id."""
    view = eng.catalog.get_item(item_id)
    data = (eng.settings.data_dir / view.media_path).read_bytes()
    result = eng.search.search_image("art", data, SearchOptions(top_k=3, locate=False))
    return result.hits[0].item.id


def test_deleting_a_kept_item_promotes_its_exact_duplicate(engine: Engine, assert_consistent) -> None:
    before = items(engine)
    kept, dup = before["mondrian/mondrian_0.jpg"], before["seascape/copy_of_mondrian_0.jpg"]
    assert dup.duplicate_of == kept.id

    report = engine.ingest.delete(kept.id)

    assert report.deleted == (kept.id,) and report.promoted == (dup.id,)
    now = engine.catalog.get_item(dup.id)
    assert now.status == "indexed" and now.duplicate_of is None and now.duplicate_kind is None
    assert now.source_path == "seascape/copy_of_mondrian_0.jpg" and now.label_names == ["seascape"]
    assert (engine.settings.data_dir / now.media_path).is_file()  # the shared file stays
    assert top_hit(engine, dup.id) == dup.id
    related_item, related = engine.search.related(dup.id, SearchOptions(top_k=3))  # no "not indexed"
    assert related_item.id == dup.id and dup.id not in {h.item.id for h in related.hits}
    assert_consistent(engine, "art")


def test_deleting_a_kept_item_promotes_a_near_duplicate_from_its_own_picture(engine: Engine, assert_consistent) -> None:
    before = items(engine)
    kept, near = before["seascape/seascape_1.jpg"], before["seascape/seascape_1_resaved.jpg"]
    assert near.duplicate_of == kept.id and near.duplicate_kind == "near"
    files_before = stored_files(engine)

    report = engine.ingest.delete(kept.id)

    assert report.promoted == (near.id,)
    now = engine.catalog.get_item(near.id)
    assert now.status == "indexed" and now.sha256 == near.sha256
    assert now.media_path and near.sha256 in now.media_path  # its own picture, not the deleted one's
    assert files_before - stored_files(engine) == {kept.media_path, kept.thumb_path}
    assert top_hit(engine, near.id) == near.id
    assert_consistent(engine, "art")


def test_deleting_with_duplicates_delete_removes_them_and_their_files(engine: Engine, assert_consistent) -> None:
    before = items(engine)
    kept, near = before["seascape/seascape_1.jpg"], before["seascape/seascape_1_resaved.jpg"]

    report = engine.ingest.delete(kept.id, duplicates="delete")

    assert set(report.deleted) == {kept.id, near.id} and report.promoted == ()
    assert set(items(engine)) == set(before) - {kept.source_path, near.source_path}
    left = stored_files(engine)
    assert not {kept.media_path, kept.thumb_path, near.media_path, near.thumb_path} & left
    assert report.files_removed == 4
    assert_consistent(engine, "art")


def test_deleting_a_plain_item_removes_its_files_but_not_shared_ones(engine: Engine, assert_consistent) -> None:
    before = items(engine)
    plain, dup = before["mondrian/mondrian_2.jpg"], before["seascape/copy_of_mondrian_0.jpg"]
    engine.ingest.delete(plain.id)
    assert not {plain.media_path, plain.thumb_path} & stored_files(engine)
    # Deleting the exact duplicate leaves the file its kept item shares with it.
    engine.ingest.delete(dup.id)
    kept = engine.catalog.get_item(dup.duplicate_of)
    assert kept.status == "indexed" and kept.duplicates == ()
    assert {kept.media_path, kept.thumb_path} <= stored_files(engine)
    assert_consistent(engine, "art")


def test_unknown_duplicates_policy_is_refused(engine: Engine) -> None:
    kept = items(engine)["mondrian/mondrian_0.jpg"]
    with pytest.raises(ValueError, match="promote, delete"):
        engine.ingest.delete(kept.id, duplicates="keep")
    assert engine.catalog.get_item(kept.id).status == "indexed"


def _old_style_delete(eng: Engine, item_id: int) -> None:
    """What deleting did before: row and vectors gone, its duplicates left pointing nowhere."""
    cid = eng.catalog.collection_id("art")
    with eng.index_store.writer(cid) as indexes:
        for idx in indexes.values():
            idx.remove(np.array([item_id], np.int64))
        eng.index_store.save(cid, indexes)
        eng.catalog.delete_items([item_id])


def test_reingest_repairs_orphaned_duplicates(engine: Engine, source: Path, assert_consistent) -> None:
    before = items(engine)
    exact, near = before["seascape/copy_of_mondrian_0.jpg"], before["seascape/seascape_1_resaved.jpg"]
    _old_style_delete(engine, exact.duplicate_of)
    _old_style_delete(engine, near.duplicate_of)
    # A row from before duplicates kept a picture: it cannot be embedded, so it is redone
    # from the SOURCE.
    with engine.catalog.session() as s:
        s.execute(update(Item).where(Item.id == near.id).values(media_path=None, thumb_path=None))
    assert set(engine.catalog.orphan_duplicates(engine.catalog.collection_id("art"))) == {exact.id, near.id}

    summary = engine.ingest.ingest(source, "art")

    assert summary.repaired == 1 and not summary.failed
    assert engine.catalog.get_item(exact.id).status == "indexed"
    after = items(engine)
    # Both deleted originals come back from the SOURCE as new items; the re-ingested
    # resaved copy is a duplicate of its original again, the promoted exact copy is kept.
    assert after["seascape/seascape_1_resaved.jpg"].status == "duplicate"
    assert after["mondrian/mondrian_0.jpg"].duplicate_of == exact.id
    assert engine.catalog.orphan_duplicates(engine.catalog.collection_id("art")) == []
    assert_consistent(engine, "art")
