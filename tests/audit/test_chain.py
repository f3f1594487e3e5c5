"""The chain: records link up, the store's canonical form is the documented one, rollbacks
leave no gap, a failed audit write fails the whole unit of work, and nothing can be changed."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError

from civicshare import db
from civicshare.audit import chain
from civicshare.audit import service as audit
from civicshare.audit.models import AuditRecord
from civicshare.partners import service as partners
from tests.audit.conftest import verify, write


def test_records_form_one_chain_from_genesis(sessions):
    write(sessions, 5)
    with db.session_scope(sessions) as session:
        rows = list(session.scalars(select(AuditRecord).order_by(AuditRecord.seq)))
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == chain.GENESIS
    for before, after in zip(rows, rows[1:], strict=False):
        assert after.prev_hash == before.record_hash
    result = verify(sessions)
    assert result.intact
    assert result.message == "Audit log intact: 5 records, no signed checkpoints yet"


def test_the_store_builds_the_documented_canonical_form(sessions):
    """verify() hashes what SQL concatenates; it must be byte for byte what chain.canonical()
    documents, including NULLs, non-ASCII text and nested details."""
    with db.session_scope(sessions) as session:
        audit.record(
            session,
            None,
            "agreement_updated",
            "agreement",
            "ISA-0007",
            reason="Ymgynghoriad — “quoted”, 日本, 🙂",
            details={"fields": ["title", "purpose"], "nested": {"b": 1, "a": [True, None]}},
        )
        audit.record(session, None, "signed_in", "person")
    with db.session_scope(sessions) as session:
        connection = session.connection()
        stored = connection.exec_driver_sql(
            f"SELECT {chain.canonical_sql(connection.dialect.name)} FROM audit_records ORDER BY seq"
        ).scalars()
        rows = session.scalars(select(AuditRecord).order_by(AuditRecord.seq)).all()
        for sql_text, row in zip(stored, rows, strict=True):
            values = {name: getattr(row, name) for name in chain.FIELDS}
            values.update(details=chain.json_text(row.details), columns=None)
            assert chain.PREFIX + sql_text.encode() == chain.canonical(values)
            assert hashlib.sha256(chain.canonical(values)).hexdigest() == row.record_hash


def test_existing_callers_keep_working_and_the_sharing_facts_are_columns(sessions):
    with db.session_scope(sessions) as session:
        audit.record(session, None, "partner_invited", "partner", "fire", details={"via": "cli"})
        audit.record(
            session,
            None,
            "share_denied",
            "dataset",
            purpose="Fire safety visits",
            agreement_ref="ISA-0002",
            agreement_version=3,
            dataset="county/adult-social-care",
            columns=("person_token", "mobility"),
            row_count=0,
            outcome="denied",
        )
    with db.session_scope(sessions) as session:
        denied = session.scalars(select(AuditRecord).where(AuditRecord.outcome == "denied")).one()
        assert denied.columns == ["person_token", "mobility"]
        assert (denied.agreement_ref, denied.agreement_version) == ("ISA-0002", 3)
        assert [r.entity_id for r in audit.history(session, "partner", "fire")] == ["fire"]
    assert verify(sessions).intact


def test_a_rolled_back_unit_of_work_leaves_no_gap(sessions):
    write(sessions, 2)
    with pytest.raises(RuntimeError), db.session_scope(sessions) as session:
        audit.record(session, None, "share_decided", "dataset", "x")
        raise RuntimeError("the change failed after it was audited")
    write(sessions, 1)
    with db.session_scope(sessions) as session:
        assert session.scalars(select(AuditRecord.seq).order_by(AuditRecord.seq)).all() == [1, 2, 3]
    assert verify(sessions).intact


def test_when_the_audit_cannot_be_written_the_change_is_not_made(sessions, engine):
    """Fail closed: the store refuses the audit record, so the caller's change rolls back."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'disk full'; END; $$"
            )
            connection.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON audit_records "
                "FOR EACH ROW EXECUTE FUNCTION refuse()"
            )
        else:
            connection.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON audit_records "
                "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
            )
    refused = pytest.raises(audit.AuditWriteError, match="could not be written")
    with refused, db.session_scope(sessions) as session:
        partners.upsert(session, [{"key": "fire", "name": "Fire", "type": "fire_and_rescue"}])
        audit.record(session, None, "partner_invited", "partner", "fire")
    with db.session_scope(sessions) as session:
        assert partners.get_by_key(session, "fire") is None
        assert session.scalar(text("SELECT seq FROM audit_chain_head")) == 0


def test_nhs_numbers_are_refused_in_details(sessions):
    refused = pytest.raises(audit.IdentifierInAudit, match="NHS number")
    with refused, db.session_scope(sessions) as session:
        audit.record(session, None, "share_decided", "dataset", details={"who": "943 476 5919"})
    with db.session_scope(sessions) as session:
        # Ten digits that fail the modulus-11 check are not NHS numbers (a count, a phone).
        audit.record(session, None, "share_decided", "dataset", details={"rows": 1234567890})
        # Nor are digits inside a hash.
        audit.record(session, None, "x", "y", details={"sha256": "ab" + "9434765919" + "cd" * 26})
    with pytest.raises(ValueError, match="outcome"), db.session_scope(sessions) as session:
        audit.record(session, None, "share_decided", "dataset", outcome="maybe")


@pytest.mark.parametrize(
    "facts",
    [
        {"details": {"é9434765919": 1}},  # a key, after a character JSON escapes
        {"details": {"note": "line\n943-476-5919"}},  # after an escaped newline
        {"details": {"n": [[9434765919]]}},  # an integer, nested
        {"columns": ["x", "943 476 5919"]},
        {"purpose": "Call about 9434765919 today"},
    ],
)
def test_nhs_numbers_are_refused_wherever_they_hide(sessions, facts):
    with pytest.raises(audit.IdentifierInAudit), db.session_scope(sessions) as session:
        audit.append_many(session, [audit.Entry(None, "share_decided", "dataset", 1, facts)])


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_records SET reason = 'nothing to see' WHERE seq = 1",
        "DELETE FROM audit_records WHERE seq = 1",
        "UPDATE audit_checkpoints SET seq = 1",
        "DELETE FROM audit_checkpoints",
    ],
)
def test_the_store_refuses_to_change_or_delete_audit_records(sessions, engine, statement):
    write(sessions, 2)
    with db.session_scope(sessions) as session:
        audit.checkpoint(session)
    with pytest.raises(DatabaseError, match="append-only"), engine.begin() as connection:
        connection.exec_driver_sql(statement)
    assert verify(sessions).intact


def test_checkpoints_are_signed_automatically(sessions):
    write(sessions, 3)
    with db.session_scope(sessions) as session:
        audit.record(session, None, "share_decided", "dataset", checkpoint_every=4)
    result = verify(sessions)
    assert result.intact, result.message
    assert (result.records, result.checkpoints, result.last_checkpoint_seq) == (5, 1, 4)
    assert result.message == "Audit log intact: 5 records, 1 signed checkpoint, last at seq 4"


def test_the_key_is_private_to_the_gateway(sessions, keys_dir):
    write(sessions, 1)
    with db.session_scope(sessions) as session:
        audit.checkpoint(session)
    assert (keys_dir / "audit-signing.key").stat().st_mode & 0o777 == 0o600
    assert (keys_dir / "audit-signing.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")


def test_append_many_writes_the_chain_record_would(sessions):
    """Bulk appends: one chain, checkpoints where record() puts them, the same checks."""
    write(sessions, 3)
    entries = [
        audit.Entry(
            None,
            "share_decided",
            "dataset",
            f"county/people-{n}",
            {"details": {"n": n}, "columns": ("a", "b"), "row_count": n, "outcome": "allowed"},
        )
        for n in range(10)
    ]
    with db.session_scope(sessions) as session:
        assert audit.append_many(session, entries, checkpoint_every=4) == 16
    result = verify(sessions)
    assert result.intact, result.message
    assert (result.records, result.checkpoints, result.last_checkpoint_seq) == (17, 4, 16)
    with db.session_scope(sessions) as session:
        rows = session.scalars(select(AuditRecord).order_by(AuditRecord.seq)).all()
        assert [r.action for r in rows].count("audit_checkpoint_signed") == 4
        assert rows[3].columns == ["a", "b"] and rows[3].details == {"n": 0}
    refused = pytest.raises(audit.IdentifierInAudit, match="NHS number")
    with refused, db.session_scope(sessions) as session:
        bad = audit.Entry(
            None, "share_decided", "dataset", None, {"reason": "", "details": {"nhs": "9434765919"}}
        )
        audit.append_many(session, [entries[0], bad])
    assert verify(sessions).records == 17


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Plan care packages for people leaving hospital this week.", []),
        ("Mrs Smith, 943 476 5919", ["an NHS number"]),
        ("943-476-5919 or 9434765919", ["an NHS number"]),
        ("9434765918 fails its check digit; a9434765919 is a longer token", []),
        ("Visit WR1 2AB, then sw1a1aa", ["a postcode"]),
        ("Discharges since 2024-01-05 under ISA-0001 for the Q3 4th review", []),
        ("943 476 5919 at B12 9QT", ["an NHS number", "a postcode"]),
    ],
)
def test_identifiers_in_free_text(text, found):
    assert audit.identifiers_in(text) == found
    assert audit.redacted(text) == (audit.REDACTED if found else text)
