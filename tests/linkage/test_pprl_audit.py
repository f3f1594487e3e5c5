"""`civicshare pprl link` at the gateway appends one audit record; standalone needs --no-audit."""

from __future__ import annotations

import csv
import hashlib
import json

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from civicshare import db
from civicshare.audit import service as audit
from civicshare.audit import signing
from civicshare.audit.models import AuditRecord
from civicshare.cli import app
from civicshare.linkage import pprl
from tests.linkage.test_pprl import KEY_1, KEY_2, encode, people

runner = CliRunner()


@pytest.fixture(autouse=True)
def keys_dir(tmp_path):
    """The CLI points audit signing at the settings' keys; put it back afterwards."""
    yield
    signing.use_keys_dir(None)


@pytest.fixture
def encodings(tmp_path):
    """Two encoding files of the same 120 people (B reversed, record ids of its own)."""
    ids, values = people(120, seed=11)
    a = encode(values, [f"rx-{r}" for r in ids])
    a.source = "RXX"
    b = encode({k: v[::-1] for k, v in values.items()}, [f"cty-{r}" for r in ids[::-1]])
    b.source = "county"
    pprl.write_encodings(tmp_path / "rxx.pprl.jsonl", a)
    pprl.write_encodings(tmp_path / "county.pprl.jsonl", b)
    other = encode(values, ids, secret=KEY_2)
    pprl.write_encodings(tmp_path / "other-secret.pprl.jsonl", other)
    assert KEY_1 != KEY_2
    return tmp_path / "rxx.pprl.jsonl", tmp_path / "county.pprl.jsonl", a


@pytest.fixture
def gateway(operator_env):
    """The command line at the gateway (tests/conftest.py's operator_env)."""
    return operator_env


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def records(sessions) -> list[AuditRecord]:
    with db.session_scope(sessions) as session:
        return list(session.scalars(select(AuditRecord).order_by(AuditRecord.seq)))


def test_link_at_the_gateway_appends_one_audit_record_and_the_chain_verifies(
    gateway, sessions, encodings, tmp_path
):
    file_a, file_b, enc_a = encodings
    before = len(records(sessions))
    out = tmp_path / "runs" / "2026-11-23"
    result = runner.invoke(app, ["pprl", "link", str(file_a), str(file_b), "--out", str(out),
                                 "--threshold", "0.9", "--solver", "optimal"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Audit record" in result.output and "pprl_link" in result.output
    with open(out / "pairs.csv", newline="") as handle:
        pairs = list(csv.DictReader(handle))
    assert len(pairs) == 120
    assert not list(out.glob("*.partial"))

    written = records(sessions)
    assert len(written) == before + 1
    entry = written[-1]
    assert entry.action == "pprl_link"
    assert entry.entity_type == "pprl_run" and entry.entity_id == "2026-11-23"
    # The operator at the server's command line, as for `index run`: the gateway's actor.
    assert entry.actor_label == audit.SYSTEM and entry.person_id is None
    assert entry.row_count == 120
    assert entry.output_sha256 == sha256(out / "pairs.csv")
    details = entry.details
    assert [f["name"] for f in details["files"]] == ["rxx.pprl.jsonl", "county.pprl.jsonl"]
    assert [f["path"] for f in details["files"]] == [str(file_a.resolve()), str(file_b.resolve())]
    assert [f["sha256"] for f in details["files"]] == [sha256(file_a), sha256(file_b)]
    assert [f["source"] for f in details["files"]] == ["RXX", "county"]
    assert [f["records"] for f in details["files"]] == [120, 120]
    assert details["scheme_fingerprint"] == pprl.scheme_fingerprint(enc_a.scheme)
    assert details["key_check"] == pprl.key_check(KEY_1)
    assert details["key_check_matches"] is True
    assert details["threshold"] == 0.9
    assert details["blocking"] == "keys" and details["solver"] == "optimal"
    assert details["comparisons"] > 0 and details["pairs_at_or_above_threshold"] >= 120
    assert details["pairs_linked"] == 120
    assert details["output"] == {
        "directory": str(out.resolve()),
        "pairs_csv": "pairs.csv",
        "pairs_csv_sha256": sha256(out / "pairs.csv"),
        "report_md": "report.md",
        "report_md_sha256": sha256(out / "report.md"),
    }
    assert details["run_by"]
    # Never the content: no record id and no filter from the files.
    text = json.dumps(details)
    assert "rx-p" not in text and "cty-p" not in text
    for line in file_a.read_text().splitlines()[1:]:
        assert json.loads(line)["clk"] not in text

    with db.session_scope(sessions) as session:
        verified = audit.verify(session)
    assert verified.intact, verified.message
    checked = runner.invoke(app, ["audit", "verify"])
    assert checked.exit_code == 0, checked.output


def test_no_audit_is_refused_where_a_store_is_initialised(gateway, sessions, encodings, tmp_path):
    file_a, file_b, _ = encodings
    before = len(records(sessions))
    result = runner.invoke(app, ["pprl", "link", str(file_a), str(file_b),
                                 "--out", str(tmp_path / "run"), "--no-audit"])  # fmt: skip
    assert result.exit_code == 2
    assert "--no-audit is refused" in result.output
    assert not (tmp_path / "run").exists()
    assert len(records(sessions)) == before


def test_a_run_whose_audit_record_cannot_be_written_releases_nothing(
    gateway, sessions, encodings, tmp_path, monkeypatch
):
    file_a, file_b, _ = encodings

    def refuse(*args, **kwargs):
        raise audit.AuditWriteError("The audit record of pprl_link could not be written.")

    monkeypatch.setattr(audit, "record", refuse)
    out = tmp_path / "run"
    result = runner.invoke(app, ["pprl", "link", str(file_a), str(file_b), "--out", str(out)])
    assert result.exit_code == 2
    assert "could not be written" in result.output and "Nothing was written" in result.output
    assert list(out.iterdir()) == []


def test_standalone_without_a_store_needs_no_audit_and_says_no_record_was_written(
    encodings, tmp_path, monkeypatch
):
    file_a, file_b, _ = encodings
    for name in ("CIVICSHARE_DATABASE_URL", "CIVICSHARE_KEYS_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CIVICSHARE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)

    refused = runner.invoke(app, ["pprl", "link", str(file_a), str(file_b),
                                  "--out", str(tmp_path / "run")])  # fmt: skip
    assert refused.exit_code == 2
    assert "no governance store is initialised" in refused.output
    assert "--no-audit" in refused.output
    assert not (tmp_path / "run").exists()
    assert not (tmp_path / "data").exists()  # looking for the store created nothing

    linked = runner.invoke(app, ["pprl", "link", str(file_a), str(file_b),
                                 "--out", str(tmp_path / "run"), "--no-audit"])  # fmt: skip
    assert linked.exit_code == 0, linked.output
    assert "No audit record was written" in linked.output
    assert (tmp_path / "run" / "pairs.csv").exists() and (tmp_path / "run" / "report.md").exists()
    assert not (tmp_path / "data").exists()


def test_a_refused_link_writes_no_audit_record(gateway, sessions, encodings, tmp_path):
    file_a, _, _ = encodings
    before = len(records(sessions))
    result = runner.invoke(app, ["pprl", "link", str(file_a),
                                 str(tmp_path / "other-secret.pprl.jsonl"),
                                 "--out", str(tmp_path / "run")])  # fmt: skip
    assert result.exit_code == 2 and "different secrets" in result.output
    with db.session_scope(sessions) as session:
        assert session.scalar(select(func.count()).select_from(AuditRecord)) == before
