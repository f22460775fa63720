"""The schema the migrations build: what the models declare, and indexes for the hot reads.

The catalog is created by Alembic migrations only (never ``create_all``), so a column or an
index declared on a model but missing from the migrations exists in no real database. These
tests read the database the migrations built, with SQLAlchemy's inspector and SQLite's own
query planner, not the models.
"""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from backend.engine.catalog import hot_reads
from backend.engine.catalog.models import Base
from backend.engine.catalog.store import Catalog

# Differences that would mean a model's table, column or index is missing from (or extra in)
# the migrated database. Nullability drift on timestamp/JSON columns is reported by Alembic
# too but changes no query; it is left out here on purpose.
_STRUCTURAL = {"add_table", "remove_table", "add_column", "remove_column", "add_index", "remove_index"}


def _diff_kinds(diffs: list) -> list[tuple[str, str]]:
    out = []
    for diff in diffs:
        for d in diff if isinstance(diff, list) else [diff]:
            if d[0] in _STRUCTURAL:
                obj = d[1] if d[0].endswith("index") else d[-1]
                out.append((d[0], str(getattr(obj, "name", obj))))
    return out


def test_migrations_build_every_table_column_and_index_the_models_declare(tmp_path: Path) -> None:
    cat = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    try:
        with cat.engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert _diff_kinds(diffs) == []
    finally:
        cat.close()


def test_reading_a_hits_duplicates_probes_an_index_instead_of_scanning_every_item(tmp_path: Path) -> None:
    cat = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    try:
        indexed = {tuple(ix["column_names"]) for ix in inspect(cat.engine).get_indexes("items")}
        assert ("duplicate_of_id",) in indexed
        stmt = hot_reads.DUPLICATES_OF.params(ids=[1, 2, 3])
        sql = str(stmt.compile(cat.engine, compile_kwargs={"literal_binds": True}))
        with cat.engine.connect() as conn:
            plan = " ".join(str(row[-1]) for row in conn.execute(text("EXPLAIN QUERY PLAN " + sql)))
        assert "USING INDEX" in plan.upper() or "USING COVERING INDEX" in plan.upper(), plan
        assert not plan.upper().startswith("SCAN"), plan
    finally:
        cat.close()
