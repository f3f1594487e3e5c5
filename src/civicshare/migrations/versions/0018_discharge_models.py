"""discharge: trained models, their training snapshots, agreement and report

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "discharge_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("chosen", sa.String(length=32), nullable=False),
        sa.Column("agreement_ref", sa.String(length=64), nullable=False),
        sa.Column("agreement_version", sa.Integer(), nullable=True),
        sa.Column("snapshots", sa.JSON(), nullable=False),
        sa.Column("receipts", sa.JSON(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("periods", sa.JSON(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("file", sa.String(length=300), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("trained_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["trained_by"],
            ["memberships.id"],
            name=op.f("fk_discharge_models_trained_by_memberships"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discharge_models")),
        sa.UniqueConstraint("version", name=op.f("uq_discharge_models_version")),
    )


def downgrade() -> None:
    op.drop_table("discharge_models")
