"""retention: purged snapshots

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECK = "ck_dataset_snapshots_snapshot_status"


def _statuses(*values: str) -> str:
    return "status IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    # Batch mode: SQLite cannot alter a CHECK constraint in place, so the table is copied.
    with op.batch_alter_table("dataset_snapshots", schema=None) as batch_op:
        batch_op.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("purge_rule", sa.String(length=64), nullable=True))
        batch_op.drop_constraint(batch_op.f(CHECK), type_="check")
        batch_op.create_check_constraint(
            batch_op.f(CHECK), _statuses("current", "superseded", "purged")
        )


def downgrade() -> None:
    # Purged snapshots have no files; as superseded they would point at nothing, so they are
    # refused rather than silently relabelled.
    bind = op.get_bind()
    purged = bind.execute(
        sa.text("SELECT COUNT(*) FROM dataset_snapshots WHERE status = 'purged'")
    ).scalar()
    if purged:
        raise RuntimeError(
            f"{purged} snapshots are purged; a store at revision 0006 cannot represent them"
        )
    with op.batch_alter_table("dataset_snapshots", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f(CHECK), type_="check")
        batch_op.create_check_constraint(batch_op.f(CHECK), _statuses("current", "superseded"))
        batch_op.drop_column("purge_rule")
        batch_op.drop_column("purged_at")
