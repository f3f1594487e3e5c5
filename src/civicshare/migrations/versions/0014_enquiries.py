"""enquiries: councillors' casework (topics, routing table, service levels, enquiries and their
history) and two roles, elected member and caseworker

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLE_CHECK = "ck_membership_roles_role"
ROLES = ("admin", "ig_lead", "data_provider", "analyst", "responder", "viewer")
NEW_ROLES = ("elected_member", "caseworker")


def _roles(*values: str) -> str:
    return "role IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    # Batch mode: SQLite cannot alter a CHECK constraint in place, so the table is copied.
    with op.batch_alter_table("membership_roles", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f(ROLE_CHECK), type_="check")
        batch_op.create_check_constraint(batch_op.f(ROLE_CHECK), _roles(*ROLES, *NEW_ROLES))
    op.create_table(
        "enquiry_topics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enquiry_topics")),
        sa.UniqueConstraint("key", name=op.f("uq_enquiry_topics_key")),
    )
    op.create_table(
        "enquiry_service_levels",
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_enquiry_service_levels_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("partner_id", name=op.f("pk_enquiry_service_levels")),
    )
    op.create_table(
        "enquiry_routes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.Column("district", sa.String(length=64), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("team", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_enquiry_routes_partner_id_partners"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["topic_id"],
            ["enquiry_topics.id"],
            name=op.f("fk_enquiry_routes_topic_id_enquiry_topics"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enquiry_routes")),
        sa.UniqueConstraint(
            "topic_id", "district", name=op.f("uq_enquiry_routes_topic_id_district")
        ),
    )
    op.create_table(
        "enquiries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=16), nullable=False),
        sa.Column("membership_id", sa.Integer(), nullable=False),
        sa.Column("raised_for_id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("postcode", sa.String(length=16), nullable=False),
        sa.Column("easting", sa.Float(), nullable=True),
        sa.Column("northing", sa.Float(), nullable=True),
        sa.Column("district", sa.String(length=64), nullable=False),
        sa.Column("consent", sa.Boolean(), nullable=False),
        sa.Column("consent_recorded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("routed_to_id", sa.Integer(), nullable=False),
        sa.Column("team", sa.String(length=200), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "with_team",
                "more_info",
                "answered",
                name="enquiry_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("resident_sealed", sa.Text(), nullable=True),
        sa.Column("resident_key", sa.Text(), nullable=True),
        sa.Column("resident_purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminded_before_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminded_after_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            ["memberships.id"],
            name=op.f("fk_enquiries_membership_id_memberships"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["raised_for_id"],
            ["partners.id"],
            name=op.f("fk_enquiries_raised_for_id_partners"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["routed_to_id"],
            ["partners.id"],
            name=op.f("fk_enquiries_routed_to_id_partners"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["topic_id"],
            ["enquiry_topics.id"],
            name=op.f("fk_enquiries_topic_id_enquiry_topics"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enquiries")),
        sa.UniqueConstraint("reference", name=op.f("uq_enquiries_reference")),
    )
    with op.batch_alter_table("enquiries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_enquiries_membership_id"), ["membership_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_enquiries_routed_to_id"), ["routed_to_id"], unique=False
        )
    op.create_table(
        "enquiry_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enquiry_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("membership_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["enquiry_id"],
            ["enquiries.id"],
            name=op.f("fk_enquiry_events_enquiry_id_enquiries"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            ["memberships.id"],
            name=op.f("fk_enquiry_events_membership_id_memberships"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enquiry_events")),
    )
    with op.batch_alter_table("enquiry_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_enquiry_events_enquiry_id"), ["enquiry_id"], unique=False
        )


def downgrade() -> None:
    bind = op.get_bind()
    held = bind.execute(
        sa.text(
            "SELECT COUNT(*) FROM membership_roles WHERE role IN ('elected_member', 'caseworker')"
        )
    ).scalar()
    if held:
        raise RuntimeError(
            f"{held} memberships hold the elected member or caseworker role; a store at revision "
            "0013 cannot represent them: remove those roles first"
        )
    with op.batch_alter_table("enquiry_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_enquiry_events_enquiry_id"))
    op.drop_table("enquiry_events")
    with op.batch_alter_table("enquiries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_enquiries_routed_to_id"))
        batch_op.drop_index(batch_op.f("ix_enquiries_membership_id"))
    op.drop_table("enquiries")
    op.drop_table("enquiry_routes")
    op.drop_table("enquiry_service_levels")
    op.drop_table("enquiry_topics")
    with op.batch_alter_table("membership_roles", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f(ROLE_CHECK), type_="check")
        batch_op.create_check_constraint(batch_op.f(ROLE_CHECK), _roles(*ROLES))
