"""works: the clashes already notified to both promoters

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "works_clash_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference_a", sa.String(length=64), nullable=False),
        sa.Column("reference_b", sa.String(length=64), nullable=False),
        sa.Column("promoter_a", sa.String(length=64), nullable=False),
        sa.Column("promoter_b", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("overlap_start", sa.Date(), nullable=False),
        sa.Column("overlap_end", sa.Date(), nullable=False),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_works_clash_notices")),
        sa.UniqueConstraint(
            "reference_a",
            "reference_b",
            name=op.f("uq_works_clash_notices_reference_a_reference_b"),
        ),
    )


def downgrade() -> None:
    op.drop_table("works_clash_notices")
