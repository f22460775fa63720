"""Sync state: resumable job checkpoints and the annotation idempotency map.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_checkpoints",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("job", sa.String(64), nullable=False),
        sa.Column("collection_id", sa.Integer(), sa.ForeignKey("collections.id", ondelete="CASCADE"), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("state", sa.JSON()),
        sa.Column("created_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("job", "collection_id", "key", name="uq_sync_checkpoint"),
    )
    op.create_index("ix_sync_checkpoints_collection_id", "sync_checkpoints", ["collection_id"])
    op.create_table(
        "annotation_links",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("service", sa.String(32), nullable=False),
        sa.Column("collection_id", sa.Integer(), sa.ForeignKey("collections.id", ondelete="SET NULL")),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("items.id", ondelete="SET NULL")),
        sa.Column("record_id", sa.String(512), nullable=False),
        sa.Column("body", sa.String(1024), nullable=False),
        sa.Column("label", sa.String(256), nullable=False),
        sa.Column("annotation_id", sa.String(1024)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("ours", sa.Boolean(), nullable=False),
        sa.Column("creator", sa.String(512)),
        sa.Column("reason", sa.Text()),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("service", "record_id", "body", name="uq_annotation_link"),
    )
    op.create_index("ix_annotation_links_collection_id", "annotation_links", ["collection_id"])
    op.create_index("ix_annotation_links_status", "annotation_links", ["status"])


def downgrade() -> None:
    op.drop_table("annotation_links")
    op.drop_table("sync_checkpoints")
