"""Every kind of tampering is caught and named, on SQLite and PostgreSQL, by someone with the
store owner's rights who first switches off (PostgreSQL) or drops (SQLite) the append-only
triggers. 20 records; a checkpoint is signed at seq 10 (the checkpoint's record is seq 11)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from civicshare import db
from civicshare.audit import chain, signing
from civicshare.audit import service as audit
from civicshare.audit.models import AuditRecord
from tests.audit.conftest import verify, write


@pytest.fixture
def chained(sessions):
    write(sessions, 10)
    with db.session_scope(sessions) as session:
        audit.checkpoint(session)
    write(sessions, 9)
    result = verify(sessions)
    assert result.intact, result.message
    assert result.message == "Audit log intact: 20 records, 1 signed checkpoint, last at seq 10"
    return sessions


def rehash_from(sessions, attacker, first: int) -> None:
    """What a careful attacker does: recompute every hash from `first` on, and the head."""
    with db.session_scope(sessions) as session:
        rows = session.scalars(select(AuditRecord).order_by(AuditRecord.seq)).all()
        prev = chain.GENESIS
        statements, params = [], {}
        for row in rows:
            if row.seq >= first:
                values = {name: getattr(row, name) for name in chain.FIELDS}
                values.update(
                    prev_hash=prev,
                    details=chain.json_text(row.details),
                    columns=chain.json_text(row.columns),
                )
                digest = chain.record_hash(values)
                statements.append(
                    f"UPDATE audit_records SET prev_hash = :p{row.id}, record_hash = :h{row.id} "
                    f"WHERE id = {row.id}"
                )
                params.update({f"p{row.id}": prev, f"h{row.id}": digest})
                prev = digest
            else:
                prev = row.record_hash
        last = rows[-1].seq
    attacker(
        *statements,
        f"UPDATE audit_chain_head SET seq = {last}, record_hash = :head",
        head=prev,
        **params,
    )


def problem(sessions):
    result = verify(sessions)
    assert not result.intact
    return result.problem, result.message


def test_an_edited_record_is_named(chained, attacker):
    attacker("UPDATE audit_records SET row_count = 5 WHERE seq = 7")
    found, message = problem(chained)
    assert (found.kind, found.seq) == ("edited", 7)
    assert message == (
        "Audit log TAMPERED: record seq 7 (id 7): its content does not match its hash (edited)"
    )


def test_an_edited_timestamp_is_caught(chained, attacker, engine):
    if engine.dialect.name == "postgresql":
        attacker("UPDATE audit_records SET at = at - interval '1 day' WHERE seq = 3")
    else:
        attacker("UPDATE audit_records SET at = replace(at, '20', '19') WHERE seq = 3")
    assert problem(chained)[0].kind == "edited"


def test_an_edited_and_rehashed_record_breaks_the_link_after_it(chained, attacker):
    rehash_from(chained, attacker, 7)
    attacker("UPDATE audit_records SET reason = 'changed' WHERE seq = 7")
    found, _ = problem(chained)
    assert (found.kind, found.seq) == ("edited", 7)


def test_a_deleted_record_leaves_a_gap(chained, attacker):
    attacker("DELETE FROM audit_records WHERE seq IN (5, 6)")
    found, message = problem(chained)
    assert (found.kind, found.seq) == ("deleted", 5)
    assert message == (
        "Audit log TAMPERED: record seq 7 (id 7): the records before it (seq 5–6) are missing "
        "(deleted)"
    )


def test_a_deleted_record_with_the_rest_renumbered_is_caught(chained, attacker):
    attacker(
        "DELETE FROM audit_records WHERE seq = 5",
        "UPDATE audit_records SET seq = seq + 999 WHERE seq > 5",
        "UPDATE audit_records SET seq = seq - 1000 WHERE seq > 999",
    )
    found, message = problem(chained)
    assert (found.kind, found.seq) == ("deleted", 5)
    assert "it was written as seq 6 and renumbered; 1 record(s) before it were deleted" in message


def test_an_inserted_record_is_caught(chained, attacker):
    """A forged record slipped in at seq 5, correctly hashed onto seq 4, the rest renumbered."""
    with db.session_scope(chained) as session:
        copied = session.scalars(select(AuditRecord).where(AuditRecord.seq == 5)).one()
        forged = {name: getattr(copied, name) for name in chain.FIELDS}
        forged.update(
            reason="forged",
            details=chain.json_text(copied.details),
            columns=chain.json_text(copied.columns),
        )
        digest = chain.record_hash(forged)
    attacker(
        "UPDATE audit_records SET seq = seq + 1000 WHERE seq >= 5",
        "UPDATE audit_records SET seq = seq - 999 WHERE seq > 1000",
        "INSERT INTO audit_records (seq, prev_hash, record_hash, at, action, entity_type, "
        "entity_id, actor_label, actor_partner, reason, details, purpose, agreement_ref, "
        "agreement_version, dataset, columns, row_count, output_sha256, outcome) "
        "SELECT 5, prev_hash, :digest, at, action, entity_type, entity_id, actor_label, "
        "actor_partner, 'forged', details, purpose, agreement_ref, agreement_version, dataset, "
        "columns, row_count, output_sha256, outcome FROM audit_records WHERE seq = 6",
        digest=digest,
    )
    found, message = problem(chained)
    # The forged record itself fits (it was hashed with care); the one after it does not.
    assert (found.kind, found.seq) == ("inserted", 6)
    assert "it was written as seq 5" in message


def test_a_duplicated_seq_is_caught(chained, attacker, engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite cannot drop the unique constraint without rebuilding the table")
    attacker(
        "ALTER TABLE audit_records DROP CONSTRAINT uq_audit_records_seq",
        "INSERT INTO audit_records (seq, prev_hash, record_hash, at, action, entity_type, "
        "actor_label, reason, details) SELECT seq, prev_hash, record_hash, at, action, "
        "entity_type, actor_label, reason, details FROM audit_records WHERE seq = 8",
    )
    found, message = problem(chained)
    assert (found.kind, found.seq) == ("inserted", 8)
    assert "seq 8 appears more than once" in message


def test_reordered_records_are_caught(chained, attacker):
    attacker(
        "UPDATE audit_records SET seq = 1000 WHERE seq = 5",
        "UPDATE audit_records SET seq = 5 WHERE seq = 6",
        "UPDATE audit_records SET seq = 6 WHERE seq = 1000",
    )
    found, message = problem(chained)
    assert (found.kind, found.seq) == ("reordered", 5)
    assert "it was written as seq 6" in message


def test_a_truncated_tail_is_caught_by_the_chain_head(chained, attacker):
    attacker("DELETE FROM audit_records WHERE seq > 15")
    found, message = problem(chained)
    assert found.kind == "truncated"
    assert "the log ends at seq 15 but seq 20 was written" in message


def test_truncating_after_a_checkpoint_is_caught_even_with_the_head_rewritten(chained, attacker):
    with db.session_scope(chained) as session:
        head = session.scalars(select(AuditRecord).where(AuditRecord.seq == 8)).one().record_hash
    attacker(
        "DELETE FROM audit_records WHERE seq > 8",
        "UPDATE audit_chain_head SET seq = 8, record_hash = :head",
        head=head,
    )
    found, message = problem(chained)
    assert found.kind == "truncated"
    assert "before this signed checkpoint" in message


def test_a_rewritten_chain_with_fresh_hashes_is_caught_by_the_checkpoint(chained, attacker):
    attacker("UPDATE audit_records SET outcome = 'denied' WHERE seq = 3")
    rehash_from(chained, attacker, 3)
    found, message = problem(chained)
    assert (found.kind, found.seq) == ("checkpoint", 10)
    assert "is not the one signed (the chain was rewritten" in message


def test_a_checkpoint_resigned_with_another_key_is_caught(chained, attacker):
    attacker("UPDATE audit_records SET outcome = 'denied' WHERE seq = 3")
    rehash_from(chained, attacker, 3)
    with db.session_scope(chained) as session:
        row = session.scalars(select(AuditRecord).where(AuditRecord.seq == 10)).one()
        own_key = Ed25519PrivateKey.generate()
        from civicshare.audit.models import AuditCheckpoint

        cp = session.scalars(select(AuditCheckpoint)).one()
        forged = signing.sign(own_key, signing.checkpoint_message(1, 10, row.record_hash, cp.at))
    attacker(
        "UPDATE audit_checkpoints SET record_hash = :h, signature = :s",
        h=row.record_hash,
        s=forged,
    )
    found, message = problem(chained)
    assert found.kind == "checkpoint"
    assert "its signature is not valid for the gateway key" in message


def test_a_deleted_checkpoint_is_caught(chained, attacker):
    attacker("DELETE FROM audit_checkpoints")
    found, message = problem(chained)
    assert (found.kind, found.seq) == ("checkpoint", 11)
    assert "says checkpoint 1 was signed, but that checkpoint is missing" in message


def test_an_outside_copy_of_the_public_key_catches_a_replaced_key(chained, keys_dir, tmp_path):
    outside = tmp_path / "kept-elsewhere.pub"
    outside.write_text((keys_dir / "audit-signing.pub").read_text())
    other = Ed25519PrivateKey.generate()
    assert verify(chained, public_key=signing.load_public_key(outside)).intact
    assert not verify(chained, public_key=other.public_key()).intact


@pytest.mark.parametrize("seq", [1, 10, 11, 12, 20])
def test_an_edit_on_either_side_of_the_split_is_named(chained, attacker, engine, seq, monkeypatch):
    """verify() on SQLite walks the first half (seq 1-10 of 20) in a second process and the
    rest itself; an edit in either half, or on either side of the join, is named the same."""
    from civicshare.audit import verification

    started = []
    real = verification._first_half

    def counted(*args):
        started.append(args[1])
        return real(*args)

    monkeypatch.setattr(verification, "_first_half", counted)
    attacker(f"UPDATE audit_records SET reason = 'edited' WHERE seq = {seq}")
    with db.session_scope(chained) as session:
        result = audit.verify(session, split=True)
    assert (result.problem.kind, result.problem.seq) == ("edited", seq)
    assert result.records == seq - 1
    assert started == ([10] if engine.dialect.name == "sqlite" else [])


def test_a_split_walk_sees_what_this_unit_of_work_wrote(chained, engine):
    """A second process sees committed records only: with records written and not yet
    committed, verify() walks the chain alone and counts them."""
    with db.session_scope(chained) as session:
        audit.record(session, None, "signed_in", "person")
        result = audit.verify(session, split=True)
        assert result.intact, result.message
        assert result.records == 21


def test_when_the_second_process_fails_verify_walks_the_first_half_itself(
    chained, attacker, monkeypatch
):
    import subprocess
    import sys

    from civicshare.audit import verification

    def failing(*_args):
        return subprocess.Popen(
            [sys.executable, "-c", "import sys; sys.exit(3)"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    monkeypatch.setattr(verification, "_first_half", failing)
    with db.session_scope(chained) as session:
        assert audit.verify(session, split=True).intact
    attacker("UPDATE audit_records SET reason = 'edited' WHERE seq = 3")
    with db.session_scope(chained) as session:
        result = audit.verify(session, split=True)
    assert (result.problem.kind, result.problem.seq) == ("edited", 3)
