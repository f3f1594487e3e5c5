"""partner OIDC: each partner's OpenID provider, and sign-ins started there and not yet finished

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "partner_oidc",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("issuer", sa.String(length=300), nullable=False),
        sa.Column("client_id", sa.String(length=300), nullable=False),
        sa.Column("client_secret_env", sa.String(length=100), nullable=True),
        sa.Column(
            "token_auth",
            sa.Enum(
                "client_secret_basic",
                "client_secret_post",
                "none",
                name="token_auth",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("scopes", sa.String(length=300), nullable=False),
        sa.Column("groups_claim", sa.String(length=100), nullable=False),
        sa.Column("group_roles", sa.JSON(), nullable=False),
        sa.Column("trust_email", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_partner_oidc_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_oidc")),
        sa.UniqueConstraint("partner_id", name=op.f("uq_partner_oidc_partner_id")),
    )
    op.create_table(
        "oidc_sign_in_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("browser_hash", sa.String(length=64), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("code_verifier", sa.String(length=128), nullable=False),
        sa.Column("next_path", sa.String(length=500), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_oidc_sign_in_attempts_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_sign_in_attempts")),
        sa.UniqueConstraint("state_hash", name=op.f("uq_oidc_sign_in_attempts_state_hash")),
    )


def downgrade() -> None:
    op.drop_table("oidc_sign_in_attempts")
    op.drop_table("partner_oidc")
