"""Signed checkpoints kept outside the gateway catch a log cut short, even when whoever cut it
also deleted the store's own checkpoints and rewrote the chain head; checkpoints are signed
every N records, every M minutes while serving and at shutdown, and published on the register."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from civicshare import db
from civicshare.app import create_app
from civicshare.audit import checkpoints, signing
from civicshare.audit import service as audit
from civicshare.audit.models import AuditRecord
from civicshare.cli import app as cli
from civicshare.config import Settings
from tests.audit.conftest import verify, write
from tests.audit.test_tampering import rehash_from

runner = CliRunner()


def run(*args: str):
    result = runner.invoke(cli, list(args))
    return result.exit_code, " ".join(result.output.split())


def hash_at(sessions, seq: int) -> str:
    with db.session_scope(sessions) as session:
        return session.scalar(select(AuditRecord.record_hash).where(AuditRecord.seq == seq))


@pytest.fixture
def saved(operator_env, sessions, tmp_path):
    """10 records, a checkpoint saved outside the gateway (checkpoint 1 at seq 10, its record
    seq 11), then 5 records, checkpoint 2 (seq 16, its record 17) and 3 more: 20 records."""
    write(sessions, 10)
    copy = tmp_path / "kept-by-a-partner.json"
    code, output = run("audit", "checkpoint", "--out", str(copy))
    assert code == 0, output
    assert "Signed checkpoint 1 at seq 10" in output and f"Saved checkpoint 1 to {copy}" in output
    write(sessions, 5)
    code, output = run("audit", "checkpoint")
    assert "Signed checkpoint 2 at seq 16" in output
    write(sessions, 3)
    code, output = run("audit", "verify", "--against", str(copy))
    assert code == 0, output
    assert (
        "Audit log intact: 20 records, 2 signed checkpoints, last at seq 16; it holds the saved "
        "checkpoint 1 (seq 10, signed " in output
    )
    return copy


def test_a_saved_checkpoint_is_complete_and_its_signature_verifies(saved, operator_env):
    document = json.loads(saved.read_text())
    assert document["format"] == "civicshare-audit-checkpoint-v1"
    assert (document["number"], document["tree_size"]) == (1, 10)
    public = serialization.load_pem_public_key(document["public_key"].encode())
    assert document["key_id"] == signing.key_id(public)
    assert document["signed_text"] == (
        f"civicshare-audit-checkpoint-v1\n1\n10\n{document['head_hash']}\n{document['at']}"
    )
    public.verify(bytes.fromhex(document["signature"]), document["signed_text"].encode())


def test_nothing_new_is_not_signed_again(saved, operator_env, tmp_path):
    code, output = run("audit", "checkpoint")
    assert "Signed checkpoint 3 at seq 20" in output
    code, output = run("audit", "checkpoint", "--out", str(tmp_path / "again.json"))
    assert code == 0
    assert "No records since checkpoint 3 at seq 20; it is the latest." in output
    assert json.loads((tmp_path / "again.json").read_text())["number"] == 3
    code, output = run("audit", "checkpoint", "--out", str(tmp_path / "no-such-folder" / "c.json"))
    assert code == 2 and "Error: cannot write" in output


def test_truncation_hidden_from_the_store_is_caught_against_a_saved_copy(saved, sessions, attacker):
    """The attacker cuts the log back to seq 7 (below the saved checkpoint's 10), deletes the
    store's checkpoints with it and points the chain head at seq 7: the store alone cannot
    tell, a copy kept outside can."""
    attacker(
        "DELETE FROM audit_records WHERE seq > 7",
        "DELETE FROM audit_checkpoints",
        "UPDATE audit_chain_head SET seq = 7, record_hash = :head",
        head=hash_at(sessions, 7),
    )
    code, output = run("audit", "verify")
    assert code == 0, "the store's own checks cannot see this"
    assert "Audit log intact: 7 records, no signed checkpoints yet" in output

    code, output = run("audit", "verify", "--against", str(saved))
    assert code == 1
    assert (
        "Audit log TAMPERED: the saved checkpoint 1 (seq 10, signed " in output
        and "covers 10 records but the log now ends at seq 7: records seq 8–10 are missing "
        "(the log was cut short: truncated)"
        in output
    )


def test_a_log_rewritten_up_to_a_saved_checkpoint_is_caught(saved, sessions, attacker):
    """Record 3 changed, every hash after it recomputed, the tail and the store's
    checkpoints deleted: the chain is consistent again, but not the one signed."""
    attacker(
        "DELETE FROM audit_records WHERE seq > 10",
        "DELETE FROM audit_checkpoints",
        "UPDATE audit_records SET outcome = 'denied' WHERE seq = 3",
    )
    rehash_from(sessions, attacker, 3)
    assert verify(sessions).message == "Audit log intact: 10 records, no signed checkpoints yet"

    code, output = run("audit", "verify", "--against", str(saved))
    assert code == 1
    assert "the record at seq 10 is not the one signed" in output
    assert "the log up to it was rewritten" in output


def test_a_record_edited_below_a_saved_checkpoint_is_named(saved, attacker):
    attacker("UPDATE audit_records SET row_count = 5 WHERE seq = 4")
    code, output = run("audit", "verify", "--against", str(saved))
    assert code == 1
    assert "record seq 4 (id 4): its content does not match its hash (edited)" in output


def test_a_forged_checkpoint_file_is_refused(saved, tmp_path):
    document = json.loads(saved.read_text())
    # Claims fewer records than were signed (to make a truncated log look whole).
    smaller = tmp_path / "smaller.json"
    smaller.write_text(json.dumps({**document, "tree_size": 7}))
    code, output = run("audit", "verify", "--against", str(smaller))
    assert code == 1
    assert (
        "Audit log TAMPERED: the saved checkpoint 1 (seq 7, signed " in output
        and f"is not signed by the gateway key {document['key_id']}: it was forged or altered"
        in output
    )
    # Signed properly, but by a key of the forger's own.
    own = Ed25519PrivateKey.generate()
    message = f"civicshare-audit-checkpoint-v1\n1\n7\n{document['head_hash']}\n{document['at']}"
    forged = tmp_path / "forged.json"
    forged.write_text(
        json.dumps(
            {
                **document,
                "tree_size": 7,
                "key_id": signing.key_id(own.public_key()),
                "signature": own.sign(message.encode()).hex(),
                "public_key": signing.public_pem(own.public_key()),
            }
        )
    )
    code, output = run("audit", "verify", "--against", str(forged))
    assert code == 1
    assert f"(it names key {signing.key_id(own.public_key())})" in output


def test_a_file_that_is_not_a_checkpoint_is_a_usage_error(operator_env, tmp_path):
    for text, says in (
        ("not json", "is not a saved checkpoint"),
        ("[]", "a saved checkpoint is a JSON object"),
        ('{"number": 1, "tree_size": "10"}', "'tree_size' must be a whole number, not '10'"),
    ):
        path = tmp_path / "bad.json"
        path.write_text(text)
        code, output = run("audit", "verify", "--against", str(path))
        assert code == 2, output
        assert says in output


def test_an_empty_log_has_nothing_to_save(operator_env, tmp_path):
    code, output = run("audit", "checkpoint", "--out", str(tmp_path / "none.json"))
    assert code == 2
    assert "The audit log is empty; there is nothing to sign yet." in output
    assert not (tmp_path / "none.json").exists()


# -- made automatically ------------------------------------------------------------------------


def signed(sessions) -> list[tuple[int, int]]:
    """(number, seq) of every checkpoint, newest first."""
    with db.session_scope(sessions) as session:
        return [(c.number, c.seq) for c in checkpoints.recent(session)]


def test_a_checkpoint_every_n_records_as_the_settings_say(settings, sessions):
    """On SQLite and PostgreSQL: audit_checkpoint_every=4 signs at seq 4 and at seq 8 (seq 5
    and 9 are the checkpoints' own records)."""
    create_app(Settings(**{**settings.model_dump(), "audit_checkpoint_every": 4}))
    write(sessions, 9)
    assert signed(sessions) == [(2, 8), (1, 4)]
    assert verify(sessions).message == (
        "Audit log intact: 11 records, 2 signed checkpoints, last at seq 8"
    )


def test_a_checkpoint_every_m_minutes_when_records_were_written(sessions):
    """On SQLite and PostgreSQL, with a fake clock: the schedule signs when records were
    written and the last checkpoint is M minutes old, and otherwise says when to look again."""
    assert checkpoints.tick(sessions, 5) == 300  # nothing written: nothing to sign
    write(sessions, 3)
    assert checkpoints.tick(sessions, 5) == 300  # no checkpoint yet: sign now
    assert signed(sessions) == [(1, 3)]
    with db.session_scope(sessions) as session:
        first = checkpoints.latest(session).at
    assert checkpoints.tick(sessions, 5, now=first + timedelta(minutes=9)) == 300
    assert signed(sessions) == [(1, 3)]  # only its own record since: nothing new

    write(sessions, 2)  # seq 5, 6
    wait = checkpoints.tick(sessions, 5, now=first + timedelta(minutes=2))
    assert wait == pytest.approx(180, abs=1)
    assert signed(sessions) == [(1, 3)]
    assert checkpoints.tick(sessions, 5, now=first + timedelta(minutes=5)) == 300
    assert signed(sessions) == [(2, 6), (1, 3)]
    assert verify(sessions).intact


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_server_signs_on_its_schedule_and_at_shutdown(settings, sessions):
    fast = Settings(**{**settings.model_dump(), "audit_checkpoint_minutes": 0.005})  # 0.3 s
    with TestClient(create_app(fast)):
        write(sessions, 3)
        deadline = time.monotonic() + 20
        while not (signed(sessions) and signed(sessions)[0][1] >= 3):
            assert time.monotonic() < deadline, "no checkpoint signed on the schedule"
            time.sleep(0.1)

    off = Settings(**{**settings.model_dump(), "audit_checkpoint_minutes": 0})
    with TestClient(create_app(off)):
        before = signed(sessions)
        write(sessions, 2)
        assert signed(sessions) == before
    (number, seq), *_ = signed(sessions)
    assert (number, seq) == (before[0][0] + 1, before[0][1] + 1 + 2)
    assert verify(sessions).intact


# -- published -------------------------------------------------------------------------------


def test_the_register_publishes_checkpoints_anyone_can_check(settings, sessions, tmp_path):
    app = create_app(settings)
    anyone = TestClient(app)
    assert anyone.get("/register/checkpoints/latest").status_code == 404
    write(sessions, 3)
    with db.session_scope(sessions) as session:
        audit.checkpoint(session)
    write(sessions, 2)
    with db.session_scope(sessions) as session:
        audit.checkpoint(session)

    listing = anyone.get("/register/checkpoints")
    assert listing.status_code == 200
    assert listing.headers["content-type"] == "application/json"
    body = listing.json()
    public = serialization.load_pem_public_key(body["public_key"].encode())
    assert body["key_id"] == signing.key_id(public)
    assert [(c["number"], c["tree_size"]) for c in body["checkpoints"]] == [(2, 6), (1, 3)]
    for entry in body["checkpoints"]:
        assert entry["signed_text"] == (
            f"civicshare-audit-checkpoint-v1\n{entry['number']}\n{entry['tree_size']}\n"
            f"{entry['head_hash']}\n{entry['at']}"
        )
        public.verify(bytes.fromhex(entry["signature"]), entry["signed_text"].encode())
        assert entry["head_hash"] == hash_at(sessions, entry["tree_size"])
    assert body["next"] is None
    paged = anyone.get("/register/checkpoints?limit=1").json()
    assert [c["number"] for c in paged["checkpoints"]] == [2]
    assert paged["next"] == "/register/checkpoints?before=2&limit=1"
    assert [c["number"] for c in anyone.get(paged["next"]).json()["checkpoints"]] == [1]

    latest = anyone.get("/register/checkpoints/latest").json()
    assert latest == body["checkpoints"][0]
    pem = anyone.get("/register/checkpoints/public-key.pem")
    assert pem.status_code == 200 and pem.text == body["public_key"]

    page = anyone.get("/register/checkpoints", headers={"accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Audit log checkpoints" in page.text
    assert 'id="checkpoint-2"' in page.text and latest["head_hash"] in page.text
    assert body["key_id"] in page.text and "BEGIN PUBLIC KEY" in page.text
    assert "/register/checkpoints/latest &gt; checkpoint.json" in page.text
    register = anyone.get("/register", headers={"accept": "text/html"}).text
    assert 'href="/register/checkpoints"' in register

    # What a partner saved from the register checks the log.
    copy = tmp_path / "copy.json"
    copy.write_text(json.dumps(latest))
    with db.session_scope(sessions) as session:
        result = checkpoints.verify_against(session, checkpoints.parse(latest))
    assert result.intact, result.message
    assert "it holds the saved checkpoint 2 (seq 6, signed" in result.message
