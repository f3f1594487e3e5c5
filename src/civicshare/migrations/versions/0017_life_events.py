"""events: life events, the notification outbox, delivery attempts, endpoints and keys

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_endpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("partner", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_endpoints")),
        sa.UniqueConstraint("partner", name=op.f("uq_event_endpoints_partner")),
    )
    op.create_table(
        "event_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("partner", sa.String(length=64), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "webhook",
                "inbound",
                name="event_key_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("wrapped_data_key", sa.Text(), nullable=False),
        sa.Column("secret_encrypted", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retires_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_keys")),
        sa.UniqueConstraint("key_id", name=op.f("uq_event_keys_key_id")),
    )
    with op.batch_alter_table("event_keys", schema=None) as batch_op:
        batch_op.create_index("ix_event_keys_partner_kind", ["partner", "kind"], unique=False)

    op.create_table(
        "life_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column(
            "event_type",
            sa.Enum(
                "death",
                name="life_event_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("dataset", sa.String(length=200), nullable=False),
        sa.Column("snapshot_version", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "matched",
                "held",
                "unmatched",
                name="life_event_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("person_key", sa.String(length=32), nullable=True),
        sa.Column("awaiting_review", sa.Boolean(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_via", sa.String(length=16), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_life_events")),
        sa.UniqueConstraint(
            "provider",
            "dataset",
            "reference",
            name=op.f("uq_life_events_provider_dataset_reference"),
        ),
    )
    with op.batch_alter_table("life_events", schema=None) as batch_op:
        batch_op.create_index("ix_life_events_status", ["status"], unique=False)

    op.create_table(
        "event_notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=64), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.String(length=40), nullable=False),
        sa.Column("agreement", sa.String(length=64), nullable=False),
        sa.Column("receipt_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("action", sa.String(length=200), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "delivered",
                "dead",
                "pulled",
                name="event_delivery_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("outcome_note", sa.Text(), nullable=False),
        sa.Column("outcome_by", sa.String(length=300), nullable=True),
        sa.Column("outcome_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("event_date", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["life_events.id"],
            name=op.f("fk_event_notifications_event_id_life_events"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_notifications")),
        sa.UniqueConstraint("delivery_id", name=op.f("uq_event_notifications_delivery_id")),
        sa.UniqueConstraint(
            "event_id", "recipient", name=op.f("uq_event_notifications_event_id_recipient")
        ),
        sa.UniqueConstraint(
            "recipient", "sequence", name=op.f("uq_event_notifications_recipient_sequence")
        ),
    )
    with op.batch_alter_table("event_notifications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_event_notifications_due", ["status", "next_attempt_at"], unique=False
        )

    op.create_table(
        "event_delivery_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notification_id", sa.Integer(), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Double(), nullable=False),
        sa.Column("key_ids", sa.String(length=200), nullable=False),
        sa.Column("replay", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["event_notifications.id"],
            name=op.f("fk_event_delivery_attempts_notification_id_event_notifications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_delivery_attempts")),
    )
    with op.batch_alter_table("event_delivery_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_event_delivery_attempts_notification_id"),
            ["notification_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("event_delivery_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_delivery_attempts_notification_id"))

    op.drop_table("event_delivery_attempts")
    with op.batch_alter_table("event_notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_event_notifications_due")

    op.drop_table("event_notifications")
    with op.batch_alter_table("life_events", schema=None) as batch_op:
        batch_op.drop_index("ix_life_events_status")

    op.drop_table("life_events")
    with op.batch_alter_table("event_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_event_keys_partner_kind")

    op.drop_table("event_keys")
    op.drop_table("event_endpoints")
