"""linkage: person index and clerical review

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "linkage_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "running",
                "done",
                "failed",
                name="linkage_run_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("started_by", sa.String(length=300), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("trained", sa.Boolean(), nullable=False),
        sa.Column("model_run_id", sa.Integer(), nullable=True),
        sa.Column("model_json", sa.Text(), nullable=True),
        sa.Column("threshold", sa.Double(), nullable=True),
        sa.Column("review_lower", sa.Double(), nullable=True),
        sa.Column("snapshots", sa.JSON(), nullable=False),
        sa.Column("new_records", sa.Integer(), nullable=False),
        sa.Column("existing_records", sa.Integer(), nullable=False),
        sa.Column("pairs", sa.Integer(), nullable=False),
        sa.Column("links", sa.Integer(), nullable=False),
        sa.Column("review_items", sa.Integer(), nullable=False),
        sa.Column("persons", sa.Integer(), nullable=False),
        sa.Column("merges", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Double(), nullable=True),
        sa.Column("mapping_path", sa.String(length=500), nullable=True),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_linkage_runs")),
    )
    op.create_table(
        "person_index_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_l", sa.String(length=200), nullable=False),
        sa.Column("record_id_l", sa.String(length=200), nullable=False),
        sa.Column("source_r", sa.String(length=200), nullable=False),
        sa.Column("record_id_r", sa.String(length=200), nullable=False),
        sa.Column("match_probability", sa.Double(), nullable=False),
        sa.Column(
            "origin",
            sa.Enum(
                "model",
                "reviewer",
                name="linkage_link_origin",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_index_links")),
        sa.UniqueConstraint(
            "source_l", "record_id_l", "source_r", "record_id_r", name="uq_person_index_links_pair"
        ),
    )
    op.create_table(
        "person_keys",
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_run_id", sa.Integer(), nullable=True),
        sa.Column("merged_into", sa.String(length=32), nullable=True),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("split_from", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_person_keys")),
    )
    op.create_table(
        "linkage_review_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source_l", sa.String(length=200), nullable=False),
        sa.Column("snapshot_version_l", sa.Integer(), nullable=False),
        sa.Column("record_id_l", sa.String(length=200), nullable=False),
        sa.Column("source_r", sa.String(length=200), nullable=False),
        sa.Column("snapshot_version_r", sa.Integer(), nullable=False),
        sa.Column("record_id_r", sa.String(length=200), nullable=False),
        sa.Column("match_weight", sa.Double(), nullable=False),
        sa.Column("match_probability", sa.Double(), nullable=False),
        sa.Column("waterfall", sa.JSON(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "accepted",
                "rejected",
                "superseded",
                name="linkage_review_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["linkage_runs.id"],
            name=op.f("fk_linkage_review_items_run_id_linkage_runs"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_linkage_review_items")),
    )
    op.create_index(
        "ix_linkage_review_items_status", "linkage_review_items", ["status"], unique=False
    )
    op.create_table(
        "person_index_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("snapshot_version", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.String(length=200), nullable=False),
        sa.Column("person_key", sa.String(length=32), nullable=False),
        sa.Column("evidence", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["linkage_runs.id"],
            name=op.f("fk_person_index_records_run_id_linkage_runs"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_index_records")),
        sa.UniqueConstraint(
            "source", "record_id", name=op.f("uq_person_index_records_source_record_id")
        ),
    )
    op.create_index(
        "ix_person_index_records_person_key", "person_index_records", ["person_key"], unique=False
    )
    op.create_table(
        "person_index_sources",
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("snapshot_version", sa.Integer(), nullable=False),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["linkage_runs.id"],
            name=op.f("fk_person_index_sources_run_id_linkage_runs"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_person_index_sources")),
    )
    op.create_table(
        "linkage_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("review_item_id", sa.Integer(), nullable=True),
        sa.Column("source_l", sa.String(length=200), nullable=False),
        sa.Column("record_id_l", sa.String(length=200), nullable=False),
        sa.Column("source_r", sa.String(length=200), nullable=False),
        sa.Column("record_id_r", sa.String(length=200), nullable=False),
        sa.Column(
            "label",
            sa.Enum(
                "match",
                "non_match",
                name="linkage_label",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.String(length=300), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["review_item_id"],
            ["linkage_review_items.id"],
            name=op.f("fk_linkage_decisions_review_item_id_linkage_review_items"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_linkage_decisions")),
        sa.UniqueConstraint(
            "source_l", "record_id_l", "source_r", "record_id_r", name="uq_linkage_decisions_pair"
        ),
    )


def downgrade() -> None:
    op.drop_table("linkage_decisions")
    op.drop_table("person_index_sources")
    op.drop_index("ix_person_index_records_person_key", table_name="person_index_records")
    op.drop_table("person_index_records")
    op.drop_index("ix_linkage_review_items_status", table_name="linkage_review_items")
    op.drop_table("linkage_review_items")
    op.drop_table("person_keys")
    op.drop_table("person_index_links")
    op.drop_table("linkage_runs")
