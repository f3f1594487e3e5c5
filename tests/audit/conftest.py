"""Audit fixtures: a signing key per test, records to tamper with, and a way in as an attacker."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from civicshare import db
from civicshare.audit import service as audit
from civicshare.audit import signing


@pytest.fixture(autouse=True)
def keys_dir(tmp_path):
    """Each test signs with its own key, in its own keys directory; a test that sets how often
    checkpoints are signed (create_app does, from the settings) leaves the default behind."""
    directory = tmp_path / "audit-keys"
    signing.use_keys_dir(directory)
    yield directory
    signing.use_keys_dir(None)
    audit.use_checkpoint_every(None)


def write(sessions, count: int, **facts) -> None:
    """`count` records, each in its own unit of work."""
    for number in range(count):
        with db.session_scope(sessions) as session:
            audit.record(
                session,
                None,
                "share_decided",
                "dataset",
                f"county/people-{number}",
                reason="weekly refresh",
                details={"step": number},
                purpose="Safeguarding adults",
                agreement_ref="ISA-0001",
                agreement_version=1,
                dataset="county/adult-social-care",
                columns=["person_token", "age_band"],
                row_count=100 + number,
                output_sha256="ab" * 32,
                outcome="allowed",
                **facts,
            )


def verify(sessions, **options) -> audit.VerifyResult:
    """audit.verify(); on SQLite also with the chain split between two processes (from the
    middle), which must give the same verdict, problem and message as one walk."""
    with db.session_scope(sessions) as session:
        result = audit.verify(session, split=False, **options)
        if session.connection().dialect.name != "sqlite":
            return result
    with db.session_scope(sessions) as session:
        halves = audit.verify(session, split=True, **options)
    assert (halves.message, halves.problem, halves.records, halves.warnings) == (
        result.message,
        result.problem,
        result.records,
        result.warnings,
    )
    return result


@pytest.fixture
def attacker(engine):
    """Run SQL as someone with the store owner's rights, past the append-only triggers."""

    def run(*statements: str, **params) -> None:
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                for table in ("audit_records", "audit_checkpoints", "audit_chain_head"):
                    connection.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            else:
                for table in ("audit_records", "audit_checkpoints"):
                    for verb in ("update", "delete"):
                        connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
            for statement in statements:
                connection.execute(text(statement), params)
            if engine.dialect.name == "postgresql":
                for table in ("audit_records", "audit_checkpoints", "audit_chain_head"):
                    connection.exec_driver_sql(f"ALTER TABLE {table} ENABLE TRIGGER USER")

    return run
