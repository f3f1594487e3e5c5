"""counciltax: single person discount reviews and their cases with outcomes

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "counciltax_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("district", sa.String(length=64), nullable=False),
        sa.Column("partner_key", sa.String(length=64), nullable=False),
        sa.Column("membership_id", sa.Integer(), nullable=False),
        sa.Column("run_by", sa.String(length=300), nullable=False),
        sa.Column("run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("review_date", sa.Date(), nullable=False),
        sa.Column("accounts_read", sa.Integer(), nullable=False),
        sa.Column("discounts", sa.Integer(), nullable=False),
        sa.Column("cases_found", sa.Integer(), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            ["memberships.id"],
            name=op.f("fk_counciltax_reviews_membership_id_memberships"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_counciltax_reviews")),
    )
    op.create_index(
        op.f("ix_counciltax_reviews_district"), "counciltax_reviews", ["district"], unique=False
    )
    op.create_index(
        op.f("ix_counciltax_reviews_membership_id"),
        "counciltax_reviews",
        ["membership_id"],
        unique=False,
    )
    op.create_table(
        "counciltax_cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("district", sa.String(length=64), nullable=False),
        sa.Column("account_ref", sa.String(length=64), nullable=False),
        sa.Column("property_ref", sa.String(length=32), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("latest_year", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("outcome_note", sa.Text(), nullable=False),
        sa.Column("outcome_by", sa.String(length=300), nullable=True),
        sa.Column("outcome_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["review_id"],
            ["counciltax_reviews.id"],
            name=op.f("fk_counciltax_cases_review_id_counciltax_reviews"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_counciltax_cases")),
        sa.UniqueConstraint(
            "district", "account_ref", name=op.f("uq_counciltax_cases_district_account_ref")
        ),
    )
    op.create_index(
        op.f("ix_counciltax_cases_district"), "counciltax_cases", ["district"], unique=False
    )
    op.create_index(
        op.f("ix_counciltax_cases_review_id"), "counciltax_cases", ["review_id"], unique=False
    )


def downgrade() -> None:
    op.drop_table("counciltax_cases")
    op.drop_table("counciltax_reviews")
