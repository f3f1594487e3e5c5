"""change stamps: a token the store replaces by trigger whenever the tables behind it change

Revision ID: 0025
Revises: 0022
Create Date: 2026-12-04
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As civicshare.db.STAMPED at this revision (a migration does not read the live code).
STAMPED = {"snapshots": ("partners", "datasets", "dataset_contracts", "dataset_snapshots")}

PG_FUNCTION = """
CREATE FUNCTION civicshare_change_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE change_stamps SET token = md5(random()::text || clock_timestamp()::text)
    WHERE name = TG_ARGV[0];
    RETURN NULL;
END;
$$
"""


def _triggers():
    for name, tables in STAMPED.items():
        for table in tables:
            yield name, table


def upgrade() -> None:
    op.create_table(
        "change_stamps",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_change_stamps")),
    )
    stamps = sa.table("change_stamps", sa.column("name"), sa.column("token"))
    op.bulk_insert(stamps, [{"name": n, "token": secrets.token_hex(16)} for n in STAMPED])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        for name, table in _triggers():
            # Per statement, so a bulk write replaces the token once.
            op.execute(
                f"CREATE TRIGGER {table}_stamp_{name} "
                f"AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION civicshare_change_stamp('{name}')"
            )
        return
    for name, table in _triggers():
        for verb in ("insert", "update", "delete"):
            op.execute(
                f"CREATE TRIGGER {table}_stamp_{name}_{verb} AFTER {verb.upper()} ON {table} "
                f"BEGIN UPDATE change_stamps SET token = lower(hex(randomblob(16))) "
                f"WHERE name = '{name}'; END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, table in _triggers():
            op.execute(f"DROP TRIGGER IF EXISTS {table}_stamp_{name} ON {table}")
        op.execute("DROP FUNCTION IF EXISTS civicshare_change_stamp()")
    else:
        for name, table in _triggers():
            for verb in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_stamp_{name}_{verb}")
    op.drop_table("change_stamps")
