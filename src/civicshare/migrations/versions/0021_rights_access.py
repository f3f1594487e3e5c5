"""rights access: subject access requests, corrections and recipients' tasks

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03 19:56:14.366454
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rights_access_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=16), nullable=False),
        sa.Column("opened_by", sa.Integer(), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("extended", sa.Boolean(), nullable=False),
        sa.Column("extension_reason", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "completed",
                name="rights_access_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("wrapped_key", sa.Text(), nullable=False),
        sa.Column("sealed_details", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["opened_by"],
            ["memberships.id"],
            name=op.f("fk_rights_access_requests_opened_by_memberships"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rights_access_requests")),
        sa.UniqueConstraint("reference", name=op.f("uq_rights_access_requests_reference")),
    )
    op.create_table(
        "rights_access_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("record_id", sa.String(length=200), nullable=False),
        sa.Column(
            "match",
            sa.Enum(
                "confident",
                "uncertain",
                "confirmed",
                "excluded",
                name="rights_access_match",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("how", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["decided_by"],
            ["memberships.id"],
            name=op.f("fk_rights_access_records_decided_by_memberships"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["rights_access_requests.id"],
            name=op.f("fk_rights_access_records_request_id_rights_access_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rights_access_records")),
        sa.UniqueConstraint(
            "request_id",
            "source",
            "record_id",
            name=op.f("uq_rights_access_records_request_id_source_record_id"),
        ),
    )
    op.create_table(
        "rights_corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=16), nullable=False),
        sa.Column("access_request_id", sa.Integer(), nullable=True),
        sa.Column(
            "kind",
            sa.Enum(
                "rectify",
                "erase",
                name="rights_correction",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("dataset", sa.String(length=100), nullable=False),
        sa.Column("record_id", sa.String(length=200), nullable=False),
        sa.Column("column", sa.String(length=100), nullable=True),
        sa.Column("wrapped_key", sa.Text(), nullable=True),
        sa.Column("sealed_value", sa.LargeBinary(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("snapshot_version", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "complete",
                name="rights_correction_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "snapshot_check",
            sa.Enum(
                "waiting",
                "carried",
                "not-carried",
                name="rights_snapshot_check",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("checked_version", sa.Integer(), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["access_request_id"],
            ["rights_access_requests.id"],
            name=op.f("fk_rights_corrections_access_request_id_rights_access_requests"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"],
            ["memberships.id"],
            name=op.f("fk_rights_corrections_decided_by_memberships"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rights_corrections")),
        sa.UniqueConstraint("reference", name=op.f("uq_rights_corrections_reference")),
    )
    op.create_table(
        "rights_correction_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("correction_id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=64), nullable=False),
        sa.Column("receipts", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_by", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("reminders", sa.Integer(), nullable=False),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["confirmed_by"],
            ["memberships.id"],
            name=op.f("fk_rights_correction_tasks_confirmed_by_memberships"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["correction_id"],
            ["rights_corrections.id"],
            name=op.f("fk_rights_correction_tasks_correction_id_rights_corrections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rights_correction_tasks")),
        sa.UniqueConstraint(
            "correction_id",
            "recipient",
            name=op.f("uq_rights_correction_tasks_correction_id_recipient"),
        ),
    )


def downgrade() -> None:
    op.drop_table("rights_correction_tasks")
    op.drop_table("rights_corrections")
    op.drop_table("rights_access_records")
    op.drop_table("rights_access_requests")
