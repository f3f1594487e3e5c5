"""events: births and changes of address as life event types

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TYPE_CHECK = "ck_life_events_life_event_type"
TYPES = ("death",)
NEW_TYPES = ("birth", "change_of_address")


def _types(*values: str) -> str:
    return "event_type IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    # Batch mode: SQLite cannot alter a CHECK constraint in place, so the table is copied.
    with op.batch_alter_table("life_events", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f(TYPE_CHECK), type_="check")
        batch_op.create_check_constraint(batch_op.f(TYPE_CHECK), _types(*TYPES, *NEW_TYPES))


def downgrade() -> None:
    # Fails (the CHECK) while births or changes of address are held: delete them first.
    with op.batch_alter_table("life_events", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f(TYPE_CHECK), type_="check")
        batch_op.create_check_constraint(batch_op.f(TYPE_CHECK), _types(*TYPES))
