"""agreements

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agreements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=16), nullable=False),
        sa.Column("drafted_by_partner_id", sa.Integer(), nullable=False),
        sa.Column("template_key", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["drafted_by_partner_id"],
            ["partners.id"],
            name=op.f("fk_agreements_drafted_by_partner_id_partners"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreements")),
        sa.UniqueConstraint("reference", name=op.f("uq_agreements_reference")),
    )
    op.create_table(
        "agreement_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "submitted",
                "approved",
                "endorsed",
                "active",
                "suspended",
                "expired",
                "revoked",
                "superseded",
                "withdrawn",
                name="agreement_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("amends_version_id", sa.Integer(), nullable=True),
        sa.Column("change_summary", sa.Text(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("necessity", sa.Text(), nullable=False),
        sa.Column("benefits", sa.Text(), nullable=False),
        sa.Column("data_subjects", sa.Text(), nullable=False),
        sa.Column(
            "controller_arrangement",
            sa.Enum(
                "separate",
                "joint",
                name="controller_arrangement",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("joint_arrangement", sa.Text(), nullable=False),
        sa.Column(
            "article6",
            sa.Enum(
                "a",
                "b",
                "c",
                "d",
                "e",
                "f",
                name="article6_basis",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column(
            "article9",
            sa.Enum(
                "a",
                "b",
                "c",
                "d",
                "e",
                "f",
                "g",
                "h",
                "i",
                "j",
                name="article9_condition",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("schedule1", sa.JSON(), nullable=False),
        sa.Column("appropriate_policy_document", sa.Boolean(), nullable=False),
        sa.Column("article10_schedule1", sa.JSON(), nullable=False),
        sa.Column("dpa_part3", sa.Boolean(), nullable=False),
        sa.Column("law_enforcement_purpose", sa.Text(), nullable=False),
        sa.Column("statutory_powers", sa.JSON(), nullable=False),
        sa.Column("row_scope", sa.JSON(), nullable=False),
        sa.Column(
            "frequency",
            sa.Enum(
                "one_off",
                "on_request",
                "on_event",
                "daily",
                "weekly",
                "monthly",
                "in_emergency",
                name="frequency",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("retention", sa.Text(), nullable=False),
        sa.Column("deletion_method", sa.Text(), nullable=False),
        sa.Column("security", sa.Text(), nullable=False),
        sa.Column("rights_handling", sa.Text(), nullable=False),
        sa.Column("dpia_answers", sa.JSON(), nullable=False),
        sa.Column("dpia_required", sa.Boolean(), nullable=True),
        sa.Column("dpia_reasons", sa.JSON(), nullable=False),
        sa.Column("dpia_outcome", sa.Text(), nullable=False),
        sa.Column("dpia_completed_on", sa.Date(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("review_date", sa.Date(), nullable=True),
        sa.Column("emergency", sa.Boolean(), nullable=False),
        sa.Column("emergency_trigger", sa.Text(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("submission_round", sa.Integer(), nullable=False),
        sa.Column("endorsed_by_membership_id", sa.Integer(), nullable=True),
        sa.Column("endorsement_meeting_date", sa.Date(), nullable=True),
        sa.Column("endorsement_minute_ref", sa.String(length=100), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status_reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreements.id"],
            name=op.f("fk_agreement_versions_agreement_id_agreements"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["amends_version_id"],
            ["agreement_versions.id"],
            name=op.f("fk_agreement_versions_amends_version_id_agreement_versions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["endorsed_by_membership_id"],
            ["memberships.id"],
            name=op.f("fk_agreement_versions_endorsed_by_membership_id_memberships"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement_versions")),
        sa.UniqueConstraint(
            "agreement_id", "number", name=op.f("uq_agreement_versions_agreement_id_number")
        ),
    )
    op.create_table(
        "agreement_approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("submission_round", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("membership_id", sa.Integer(), nullable=False),
        sa.Column(
            "decision",
            sa.Enum(
                "approve",
                "reject",
                name="approval_decision",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            ["memberships.id"],
            name=op.f("fk_agreement_approvals_membership_id_memberships"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_agreement_approvals_partner_id_partners"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["agreement_versions.id"],
            name=op.f("fk_agreement_approvals_version_id_agreement_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement_approvals")),
    )
    op.create_table(
        "agreement_data_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("provider_partner_id", sa.Integer(), nullable=False),
        sa.Column("dataset", sa.String(length=100), nullable=False),
        sa.Column("column", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "treatment",
            sa.Enum(
                "identifiable",
                "pseudonymised",
                "generalised",
                "excluded",
                name="treatment",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "generalisation",
            sa.Enum(
                "age_band",
                "birth_year",
                "postcode_sector",
                "postcode_district",
                "month",
                "flag",
                name="generalisation",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column(
            "special_category",
            sa.Enum(
                "health",
                "racial_ethnic",
                "political",
                "religious",
                "trade_union",
                "genetic",
                "biometric",
                "sex_life",
                "sexual_orientation",
                name="special_category",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("criminal_offence", sa.Boolean(), nullable=False),
        sa.Column("personal", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_partner_id"],
            ["partners.id"],
            name=op.f("fk_agreement_data_items_provider_partner_id_partners"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["agreement_versions.id"],
            name=op.f("fk_agreement_data_items_version_id_agreement_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement_data_items")),
    )
    op.create_table(
        "agreement_parties",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "provider",
                "recipient",
                "both",
                name="party_role",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_agreement_parties_partner_id_partners"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["agreement_versions.id"],
            name=op.f("fk_agreement_parties_version_id_agreement_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement_parties")),
        sa.UniqueConstraint(
            "version_id", "partner_id", name=op.f("uq_agreement_parties_version_id_partner_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("agreement_parties")
    op.drop_table("agreement_data_items")
    op.drop_table("agreement_approvals")
    op.drop_table("agreement_versions")
    op.drop_table("agreements")
