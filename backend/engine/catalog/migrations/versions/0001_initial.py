"""Initial catalog: collections, items, labels, model versions.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "collections",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True)),
        sa.Column("settings", sa.JSON()),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("task", sa.String(32), nullable=False),
        sa.Column("card", sa.JSON()),
        sa.Column("path", sa.Text()),
        sa.Column("active", sa.Boolean()),
        sa.Column("created_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("name", "version", name="uq_model_name_version"),
    )
    op.create_table(
        "items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("collection_id", sa.Integer(), sa.ForeignKey("collections.id", ondelete="CASCADE"), nullable=False),
        sa.Column("source_path", sa.String(1024), nullable=False),
        sa.Column("title", sa.String(512)),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("phash", sa.BigInteger()),
        sa.Column("width", sa.Integer()),
        sa.Column("height", sa.Integer()),
        sa.Column("format", sa.String(16)),
        sa.Column("media_path", sa.String(512)),
        sa.Column("thumb_path", sa.String(512)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("duplicate_of_id", sa.Integer(), sa.ForeignKey("items.id", ondelete="SET NULL")),
        sa.Column("duplicate_kind", sa.String(8)),
        sa.Column("duplicate_distance", sa.Integer()),
        sa.Column("extra", sa.JSON()),
        sa.Column("created_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("collection_id", "source_path", name="uq_item_source_path"),
    )
    op.create_index("ix_items_collection_id", "items", ["collection_id"])
    op.create_index("ix_items_sha256", "items", ["sha256"])
    op.create_index("ix_items_status", "items", ["status"])
    op.create_table(
        "labels",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("confidence", sa.Float()),
        sa.Column("model_version_id", sa.Integer(), sa.ForeignKey("model_versions.id", ondelete="SET NULL")),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("item_id", "name", "source", name="uq_label_item_name_source"),
    )
    op.create_index("ix_labels_item_id", "labels", ["item_id"])
    op.create_index("ix_labels_name", "labels", ["name"])


def downgrade() -> None:
    op.drop_table("labels")
    op.drop_table("items")
    op.drop_table("model_versions")
    op.drop_table("collections")
