"""audit chain: hash-chained records, the chain head, signed checkpoints, append-only triggers

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64

PG_APPEND_ONLY = """
CREATE FUNCTION civicshare_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$
"""
TABLES = ("audit_records", "audit_checkpoints")


def upgrade() -> None:
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("record_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("actor_partner", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("purpose", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("agreement_ref", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("agreement_version", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("dataset", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("columns", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("row_count", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("output_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("outcome", sa.String(length=16), nullable=True))

    last_seq, last_hash = _chain_existing_records()

    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.alter_column("seq", existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("record_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_audit_records_seq"), ["seq"])
        batch_op.create_check_constraint(
            batch_op.f("ck_audit_records_outcome"), "outcome IN ('allowed', 'denied')"
        )
        batch_op.create_check_constraint(batch_op.f("ck_audit_records_seq_positive"), "seq > 0")
        batch_op.create_index("ix_audit_records_action", ["action"], unique=False)
        batch_op.create_index("ix_audit_records_actor_partner", ["actor_partner"], unique=False)
        batch_op.create_index("ix_audit_records_agreement_ref", ["agreement_ref"], unique=False)
        batch_op.create_index("ix_audit_records_at", ["at"], unique=False)
        batch_op.create_index("ix_audit_records_dataset", ["dataset"], unique=False)

    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("record_hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_audit_chain_head_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    op.execute(
        sa.text(
            "INSERT INTO audit_chain_head (id, seq, record_hash) VALUES (1, :seq, :hash)"
        ).bindparams(seq=last_seq, hash=last_hash)
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("record_hash", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
        sa.UniqueConstraint("number", name=op.f("uq_audit_checkpoints_number")),
    )
    _create_append_only_triggers()


def _chain_existing_records() -> tuple[int, str]:
    """Give records written before the chain their actor's partner, seq and hashes."""
    from civicshare.audit import chain

    bind = op.get_bind()
    bind.execute(
        sa.text(
            "UPDATE audit_records SET actor_partner = (SELECT partners.key FROM memberships "
            "JOIN partners ON partners.id = memberships.partner_id "
            "WHERE memberships.id = audit_records.membership_id)"
        )
    )
    typed = {
        "at": sa.DateTime(timezone=True),
        "details": sa.JSON(),
        "columns": sa.JSON(),
    }
    records = sa.table(
        "audit_records", *(sa.column(name, typed.get(name)) for name in ("id", *chain.FIELDS))
    )
    fields = [c for c in records.c if c.name != "id"]
    rows = bind.execute(sa.select(records.c.id, *fields).order_by(records.c.id)).all()
    seq, prev = 0, GENESIS
    for row in rows:
        seq += 1
        values = dict(row._mapping)
        values.update(
            seq=seq,
            prev_hash=prev,
            details=chain.json_text(values["details"]),
            columns=chain.json_text(values["columns"]),
        )
        digest = chain.record_hash(values)
        bind.execute(
            sa.update(records)
            .where(records.c.id == row.id)
            .values(seq=seq, prev_hash=prev, record_hash=digest)
        )
        prev = digest
    return seq, prev


def _create_append_only_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_APPEND_ONLY)
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION civicshare_audit_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION civicshare_audit_append_only()"
            )
    else:
        for table in TABLES:
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: {verb} on {table} "
                    "is refused'); END"
                )


def _drop_append_only_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS civicshare_audit_append_only()")
    else:
        for table in TABLES:
            for verb in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")


def downgrade() -> None:
    _drop_append_only_triggers()
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_chain_head")
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_records_dataset")
        batch_op.drop_index("ix_audit_records_at")
        batch_op.drop_index("ix_audit_records_agreement_ref")
        batch_op.drop_index("ix_audit_records_actor_partner")
        batch_op.drop_index("ix_audit_records_action")
        batch_op.drop_constraint(batch_op.f("ck_audit_records_seq_positive"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_audit_records_outcome"), type_="check")
        batch_op.drop_constraint(batch_op.f("uq_audit_records_seq"), type_="unique")
        batch_op.drop_column("outcome")
        batch_op.drop_column("output_sha256")
        batch_op.drop_column("row_count")
        batch_op.drop_column("columns")
        batch_op.drop_column("dataset")
        batch_op.drop_column("agreement_version")
        batch_op.drop_column("agreement_ref")
        batch_op.drop_column("purpose")
        batch_op.drop_column("actor_partner")
        batch_op.drop_column("record_hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("seq")
