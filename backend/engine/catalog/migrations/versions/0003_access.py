"""Access: API keys, the audit log of writes; items' portal record ids and origin.

Revision ID: 0003
Revises: 0002

Items gain ``record_id`` (the id a portal knows a work by; indexed with the collection so a
widget's lookup is one index probe) and ``origin`` (``ingest`` or ``upload``). Existing rows
are filled in here: a Europeana record id kept in ``extra`` becomes ``europeana:/<dataset>/<local>``,
a manifest's ``record_id`` column is taken as it is, and rows whose path is under ``uploads/``
(the only paths the HTTP API generated) are marked as uploads.
"""
import json

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _record_id(extra: object) -> str | None:
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except ValueError:
            return None
    if not isinstance(extra, dict):
        return None
    europeana = extra.get("europeana_record_id")
    if isinstance(europeana, str) and europeana.strip():
        from europeana_sync.record_ids import normalize_record_id

        try:
            return "europeana:" + normalize_record_id(europeana)
        except ValueError:
            pass
    own = extra.get("record_id")
    if isinstance(own, str) and own.strip():
        return own.strip()[:512]
    return None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key_id", sa.String(32), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("scopes", sa.JSON()),
        sa.Column("origins", sa.JSON()),
        sa.Column("rate_limit", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True)),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(32)),
        sa.Column("address", sa.String(64)),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("collection", sa.String(128)),
        sa.Column("item_ids", sa.JSON()),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(64), nullable=False),
        sa.Column("detail", sa.JSON()),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_key_id", "audit_events", ["key_id"])
    op.add_column("items", sa.Column("record_id", sa.String(512)))
    op.add_column("items", sa.Column("origin", sa.String(16), nullable=False, server_default="ingest"))
    op.create_index("ix_items_collection_record", "items", ["collection_id", "record_id"])

    conn = op.get_bind()
    items = sa.table(
        "items",
        sa.column("id", sa.Integer()),
        sa.column("source_path", sa.String()),
        sa.column("extra", sa.JSON()),
        sa.column("record_id", sa.String()),
        sa.column("origin", sa.String()),
    )
    conn.execute(sa.update(items).where(items.c.source_path.like("uploads/%")).values(origin="upload"))
    updates = [
        {"item_id": row.id, "rid": rid}
        for row in conn.execute(sa.select(items.c.id, items.c.extra).where(items.c.extra.is_not(None)))
        if (rid := _record_id(row.extra))
    ]
    if updates:
        conn.execute(
            sa.update(items).where(items.c.id == sa.bindparam("item_id")).values(record_id=sa.bindparam("rid")),
            updates,
        )


def downgrade() -> None:
    op.drop_index("ix_items_collection_record", "items")
    with op.batch_alter_table("items") as batch:
        batch.drop_column("origin")
        batch.drop_column("record_id")
    op.drop_table("audit_events")
    op.drop_table("api_keys")
