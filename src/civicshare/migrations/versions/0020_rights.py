"""rights: objections per person and purpose, the national data opt-out, the DPO's address

Revision ID: 0020
Revises: 0023
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("partners") as batch_op:
        batch_op.add_column(sa.Column("dpo_address", sa.Text(), nullable=True))
    op.create_table(
        "rights_objections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_key", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["recorded_by"],
            ["memberships.id"],
            name=op.f("fk_rights_objections_recorded_by_memberships"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["withdrawn_by"],
            ["memberships.id"],
            name=op.f("fk_rights_objections_withdrawn_by_memberships"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rights_objections")),
    )
    op.create_index(op.f("ix_rights_objections_person_key"), "rights_objections", ["person_key"])
    op.create_index("ix_rights_objections_purpose", "rights_objections", ["purpose"])
    op.create_table(
        "rights_national_opt_outs",
        sa.Column("person_key", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("snapshot_version", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("person_key", name=op.f("pk_rights_national_opt_outs")),
    )


def downgrade() -> None:
    op.drop_table("rights_national_opt_outs")
    op.drop_index("ix_rights_objections_purpose", table_name="rights_objections")
    op.drop_index(op.f("ix_rights_objections_person_key"), table_name="rights_objections")
    op.drop_table("rights_objections")
    with op.batch_alter_table("partners") as batch_op:
        batch_op.drop_column("dpo_address")
