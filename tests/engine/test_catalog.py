"""The catalog (SQLAlchemy 2 + Alembic) on SQLite and on a real PostgreSQL.

Every test runs on both back ends: SQLite is the default a new user gets, PostgreSQL is what
a museum runs in production, and the two differ exactly where bugs hide (64-bit integers,
unique constraints, transactions).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from sqlalchemy import event, inspect
from sqlalchemy.exc import IntegrityError

from backend.engine.catalog import migrate
from backend.engine.catalog.store import Catalog, NewItem, UnknownCollection, UnknownItem

_db_counter = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.db'}"
        return
    base = request.getfixturevalue("postgres_url")
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(base)
    name = f"catalog_{next(_db_counter)}"
    conninfo = dict(dbname="postgres", user=url.username, host=url.query["host"])
    with psycopg.connect(**conninfo, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield url.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(**conninfo, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def catalog(catalog_url: str):
    cat = Catalog(catalog_url)
    yield cat
    cat.close()


def new_item(path: str, *, labels: tuple[str, ...] = (), sha: str | None = None, **kw: object) -> NewItem:
    fields = dict(
        source_path=path,
        sha256=sha or f"{abs(hash(path)):064x}"[-64:],
        phash=kw.pop("phash", 0x0F0F0F0F0F0F0F0F),
        title=None,
        width=100,
        height=80,
        format="JPEG",
        media_path=f"media/{path}",
        thumb_path=f"thumbs/{path}",
        labels=labels,
    )
    fields.update(kw)
    return NewItem(**fields)


def test_opening_migrates_to_head_and_reopening_is_a_no_op(catalog_url: str) -> None:
    cat = Catalog(catalog_url)
    try:
        assert migrate.current_revision(cat.engine) == migrate.head_revision() != ""
        tables = set(inspect(cat.engine).get_table_names())
        assert {"collections", "items", "labels", "model_versions", "alembic_version"} <= tables
        cid = cat.ensure_collection("paintings")
        cat.add_items(cid, [new_item("a.jpg", labels=("x",))])
    finally:
        cat.close()
    again = Catalog(catalog_url)  # second open: migrations must not fail or wipe data
    try:
        migrate.upgrade(again.engine)
        assert migrate.current_revision(again.engine) == migrate.head_revision()
        assert again.collection_names() == ["paintings"]
        assert again.collection_info("paintings").items == 1
    finally:
        again.close()


def test_source_path_is_unique_within_a_collection_only(catalog: Catalog) -> None:
    a = catalog.ensure_collection("a")
    b = catalog.ensure_collection("b")
    assert catalog.ensure_collection("a") == a  # idempotent
    catalog.add_items(a, [new_item("style/x.jpg")])
    catalog.add_items(b, [new_item("style/x.jpg")])  # same path, other collection: fine
    with pytest.raises(IntegrityError):
        catalog.add_items(a, [new_item("style/x.jpg", sha="f" * 64)])
    # The failed insert rolled back completely; the catalog is still usable.
    assert catalog.source_path_status(a) == {"style/x.jpg": "pending"}
    catalog.add_items(a, [new_item("style/y.jpg")])
    assert set(catalog.source_path_status(a)) == {"style/x.jpg", "style/y.jpg"}


def test_labels_are_stored_once_and_read_back_with_the_item(catalog: Catalog) -> None:
    cid = catalog.ensure_collection("c")
    (i,) = catalog.add_items(cid, [new_item("p.jpg", labels=("portrait", "baroque", "portrait"), extra={"k": "v"})])
    item = catalog.get_item(i)
    assert item.collection == "c" and item.source_path == "p.jpg"
    assert item.label_names == ["baroque", "portrait"]
    assert all(lb.source == "curator" for lb in item.labels)
    assert item.extra == {"k": "v"}


def test_duplicate_lends_its_label_to_the_kept_item(catalog: Catalog) -> None:
    cid = catalog.ensure_collection("c")
    (kept,) = catalog.add_items(cid, [new_item("impressionism/a.jpg", labels=("impressionism",), sha="a" * 64)])
    dups = catalog.add_items(
        cid,
        [
            new_item(
                "post_impressionism/a.jpg",
                labels=("post_impressionism",),
                sha="a" * 64,
                status="duplicate",
                duplicate_of=kept,
                duplicate_kind="exact",
                duplicate_distance=0,
            ),
            # a second copy under the same second label, and one under the kept item's own label
            new_item(
                "post_impressionism/a2.jpg",
                labels=("post_impressionism",),
                sha="a" * 64,
                status="duplicate",
                duplicate_of=kept,
                duplicate_kind="exact",
                duplicate_distance=0,
            ),
            new_item(
                "impressionism/a_small.jpg",
                labels=("impressionism",),
                sha="b" * 64,
                status="duplicate",
                duplicate_of=kept,
                duplicate_kind="near",
                duplicate_distance=2,
            ),
        ],
    )
    view = catalog.get_item(kept)
    assert view.label_names == ["impressionism", "post_impressionism"]
    assert sorted(view.duplicates) == sorted(dups)
    dup = catalog.get_item(dups[0])
    assert dup.status == "duplicate" and dup.duplicate_of == kept and dup.duplicate_kind == "exact"
    # Duplicates are never offered for dedup seeding (only kept items are).
    assert [row[0] for row in catalog.dedup_entries(cid)] == [kept]


def test_64_bit_perceptual_hashes_round_trip(catalog: Catalog) -> None:
    # pHashes are stored as signed 64-bit; both extremes must survive the database.
    cid = catalog.ensure_collection("c")
    ids = catalog.add_items(cid, [new_item("lo.jpg", phash=-(2**63)), new_item("hi.jpg", phash=2**63 - 1)])
    stored = {i: ph for i, _, ph in catalog.dedup_entries(cid)}
    assert stored == {ids[0]: -(2**63), ids[1]: 2**63 - 1}


def test_get_items_reads_many_items_in_a_constant_number_of_queries(catalog: Catalog) -> None:
    cid = catalog.ensure_collection("c")
    kept = catalog.add_items(cid, [new_item(f"s{i % 3}/{i}.jpg", labels=(f"s{i % 3}", "all")) for i in range(60)])
    catalog.add_items(
        cid,
        [
            new_item(f"dup/{i}.jpg", status="duplicate", duplicate_of=k, duplicate_kind="exact")
            for i, k in enumerate(kept[:10])
        ],
    )
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(catalog.engine, "before_cursor_execute", count)
    try:
        few = catalog.get_items(kept[:3])
        n_few = len(statements)
        statements.clear()
        many = catalog.get_items(kept)
        n_many = len(statements)
    finally:
        event.remove(catalog.engine, "before_cursor_execute", count)
    assert len(few) == 3 and len(many) == 60
    assert n_many == n_few <= 4, (n_few, n_many)
    assert all("all" in v.label_names and len(v.label_names) == 2 for v in many.values())
    assert sum(len(v.duplicates) for v in many.values()) == 10


def test_status_counts_label_queries_and_unknowns(catalog: Catalog) -> None:
    cid = catalog.ensure_collection("c")
    ids = catalog.add_items(
        cid, [new_item(f"{lab}/{i}.jpg", labels=(lab,)) for i, lab in enumerate(["a", "a", "b", "c"])]
    )
    catalog.set_status(ids[:3], "indexed")  # the "c" item stays pending
    info = catalog.collection_info("c")
    assert (info.items, info.indexed, info.pending) == (4, 3, 1)
    assert info.labels == {"a": 2, "b": 1}  # labels of indexed items only
    assert sorted(catalog.item_ids_with_labels(cid, ["a", "c"])) == ids[:2]  # pending "c" excluded
    assert catalog.ids_with_status(cid, "pending") == [ids[3]]
    with pytest.raises(UnknownCollection):
        catalog.collection_id("nope")
    with pytest.raises(UnknownItem):
        catalog.get_item(10**6)


def test_machine_labels_are_kept_apart_and_replaced(catalog: Catalog) -> None:
    cid = catalog.ensure_collection("c")
    (i,) = catalog.add_items(cid, [new_item("x.jpg", labels=("baroque",))])
    mv = catalog.register_model("clf", "1", "classifier", {"a": 1}, None)
    catalog.add_machine_labels({i: [("baroque", 0.9), ("rococo", 0.4)]}, mv)
    catalog.add_machine_labels({i: [("rococo", 0.7)]}, mv)
    labels = {(lb.name, lb.source): lb for lb in catalog.get_item(i).labels}
    assert set(labels) == {("baroque", "curator"), ("rococo", "machine")}
    assert labels[("rococo", "machine")].confidence == pytest.approx(0.7)
    mv2 = catalog.register_model("clf", "2", "classifier", {}, None)
    assert mv2 != mv
    with catalog.session() as s:
        from sqlalchemy import select

        from backend.engine.catalog.models import ModelVersion

        active = s.scalars(select(ModelVersion.version).where(ModelVersion.active)).all()
    assert active == ["2"]


def test_deleting_a_kept_item_unlinks_its_duplicates(catalog: Catalog) -> None:
    cid = catalog.ensure_collection("c")
    (kept,) = catalog.add_items(cid, [new_item("a.jpg", labels=("x",))])
    (dup,) = catalog.add_items(cid, [new_item("b.jpg", status="duplicate", duplicate_of=kept, duplicate_kind="exact")])
    catalog.delete_item(kept)
    with pytest.raises(UnknownItem):
        catalog.get_item(kept)
    assert catalog.get_item(dup).duplicate_of is None
