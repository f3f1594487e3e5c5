"""person index: links by household attachment (records without a date of birth attached to an
indexed resident at their property), with the evidence of each

Revision ID: 0023
Revises: 0019
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECK = "ck_person_index_links_linkage_link_origin"


def upgrade() -> None:
    # Batch mode: SQLite cannot alter a CHECK constraint in place, so the table is copied.
    with op.batch_alter_table("person_index_links", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f(CHECK), type_="check")
        batch_op.create_check_constraint(
            batch_op.f(CHECK), "origin IN ('model', 'reviewer', 'attachment')"
        )
        batch_op.add_column(sa.Column("evidence", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM person_index_links WHERE origin = 'attachment'")
    with op.batch_alter_table("person_index_links", schema=None) as batch_op:
        batch_op.drop_column("evidence")
        batch_op.drop_constraint(batch_op.f(CHECK), type_="check")
        batch_op.create_check_constraint(batch_op.f(CHECK), "origin IN ('model', 'reviewer')")
