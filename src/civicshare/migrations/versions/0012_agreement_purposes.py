"""agreement purposes and separation of duties: each version's permitted purposes, who drafted
and who submitted it; a receipt keeps the requester's note beside the purpose code

A version stored before this migration gets one permitted purpose, `agreed-purpose`, described
by the purpose its parties approved (its prose purpose), so that what flows today keeps flowing
under a named purpose; an amendment then lists the real ones.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AGREED = "agreed-purpose"


def upgrade() -> None:
    with op.batch_alter_table("agreement_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("purposes", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("drafted_by_membership_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("submitted_by_membership_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_agreement_versions_drafted_by_membership_id_memberships"),
            "memberships",
            ["drafted_by_membership_id"],
            ["id"],
            ondelete="RESTRICT",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_agreement_versions_submitted_by_membership_id_memberships"),
            "memberships",
            ["submitted_by_membership_id"],
            ["id"],
            ondelete="RESTRICT",
        )
    versions = sa.table(
        "agreement_versions",
        sa.column("id", sa.Integer()),
        sa.column("purpose", sa.Text()),
        sa.column("purposes", sa.JSON()),
    )
    connection = op.get_bind()
    for version_id, prose in connection.execute(sa.select(versions.c.id, versions.c.purpose)):
        listed = [{"code": AGREED, "description": prose.strip()}] if (prose or "").strip() else []
        connection.execute(
            versions.update().where(versions.c.id == version_id).values(purposes=listed)
        )
    with op.batch_alter_table("agreement_versions", schema=None) as batch_op:
        batch_op.alter_column("purposes", existing_type=sa.JSON(), nullable=False)

    with op.batch_alter_table("share_receipts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("purpose_note", sa.Text(), nullable=True))
    op.execute("UPDATE share_receipts SET purpose_note = ''")
    with op.batch_alter_table("share_receipts", schema=None) as batch_op:
        batch_op.alter_column("purpose_note", existing_type=sa.Text(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("share_receipts", schema=None) as batch_op:
        batch_op.drop_column("purpose_note")
    with op.batch_alter_table("agreement_versions", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_agreement_versions_submitted_by_membership_id_memberships"),
            type_="foreignkey",
        )
        batch_op.drop_constraint(
            batch_op.f("fk_agreement_versions_drafted_by_membership_id_memberships"),
            type_="foreignkey",
        )
        batch_op.drop_column("submitted_by_membership_id")
        batch_op.drop_column("drafted_by_membership_id")
        batch_op.drop_column("purposes")
