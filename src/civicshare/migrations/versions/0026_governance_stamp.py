"""the "governance" change stamp: replaced by trigger whenever partners, agreements or
residents' objections and opt-outs change

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-04
"""

import secrets
from collections.abc import Sequence

from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As civicshare.db.STAMPED["governance"] at this revision: every governance table decide()
# reads (a migration does not read the live code). civicshare_change_stamp() is 0025's.
NAME = "governance"
TABLES = (
    "partners",
    "agreements",
    "agreement_versions",
    "agreement_parties",
    "agreement_data_items",
    "rights_objections",
    "rights_national_opt_outs",
)


def upgrade() -> None:
    op.execute(
        f"INSERT INTO change_stamps (name, token) VALUES ('{NAME}', '{secrets.token_hex(16)}')"
    )
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            # Per statement, so a bulk write replaces the token once.
            op.execute(
                f"CREATE TRIGGER {table}_stamp_{NAME} "
                f"AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION civicshare_change_stamp('{NAME}')"
            )
        return
    for table in TABLES:
        for verb in ("insert", "update", "delete"):
            op.execute(
                f"CREATE TRIGGER {table}_stamp_{NAME}_{verb} AFTER {verb.upper()} ON {table} "
                f"BEGIN UPDATE change_stamps SET token = lower(hex(randomblob(16))) "
                f"WHERE name = '{NAME}'; END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_stamp_{NAME} ON {table}")
    else:
        for table in TABLES:
            for verb in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_stamp_{NAME}_{verb}")
    op.execute(f"DELETE FROM change_stamps WHERE name = '{NAME}'")
